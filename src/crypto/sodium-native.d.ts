// The parts of sodium-native 5 this project calls (the package ships no typings).
declare module "sodium-native" {
  const sodium: {
    crypto_generichash(output: Buffer, input: Buffer, key?: Buffer): void;
    crypto_generichash_STATEBYTES: number;
    crypto_generichash_init(state: Buffer, key: Buffer | null, outputLength: number): void;
    crypto_generichash_update(state: Buffer, input: Buffer): void;
    crypto_generichash_final(state: Buffer, output: Buffer): void;
    crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean;
  };
  export default sodium;
}
