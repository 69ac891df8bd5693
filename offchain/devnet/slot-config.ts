/** Slot ↔ POSIX time of the devnet: slot 0 starts at `zeroTime` (whole second), one slot per `slotLength` ms. */
export interface DevnetSlotConfig {
  zeroTime: number;
  zeroSlot: number;
  slotLength: number;
}

export function slotAt(config: DevnetSlotConfig, posixMs: number): number {
  return config.zeroSlot + Math.floor((posixMs - config.zeroTime) / config.slotLength);
}

export function timeOfSlot(config: DevnetSlotConfig, slot: number): number {
  return config.zeroTime + (slot - config.zeroSlot) * config.slotLength;
}
