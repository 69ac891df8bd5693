/** JSON bodies, each route class with its own size limit (413 BODY_TOO_LARGE above it). */
import express, { type RequestHandler } from "express";
import { limitFor, routeClass, type ApiLimits } from "../limits.js";

export function jsonBodies(limits: ApiLimits): RequestHandler {
  const parsers = new Map<number, RequestHandler>();
  return (req, res, next) => {
    const limit = limitFor(limits.bodyBytes, routeClass(req));
    let parser = parsers.get(limit);
    if (!parser) parsers.set(limit, (parser = express.json({ limit, strict: true })));
    parser(req, res, next);
  };
}
