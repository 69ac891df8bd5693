// The parts of sodium-native 5 this project calls (the package ships no typings).
declare module "sodium-native" {
  const sodium: {
    crypto_generichash(output: Buffer, input: Buffer, key?: Buffer): void;
    crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean;
  };
  export default sodium;
}
