// The part of secp256k1 5's native binding this project calls (the package ships no typings).
declare module "secp256k1/bindings.js" {
  const secp256k1: {
    ecdsaVerify(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean;
  };
  export default secp256k1;
}
