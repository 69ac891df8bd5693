import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = dirname(fileURLToPath(import.meta.url));

// The page is served by the API server (same origin, /api); `vite dev` proxies /api to NTX_API_URL.
export default defineConfig({
  root,
  base: "/",
  logLevel: "warn",
  build: {
    outDir: resolve(root, "../../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: { proxy: { "/api": process.env.NTX_API_URL ?? "http://127.0.0.1:8080" } },
});
