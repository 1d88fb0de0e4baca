/**
 * Who may hold one of the cluster stream's slots. The streams are open to anyone (they describe
 * the cluster), so without care one host could hold them all and lock the operator out: each
 * client address holds at most `perAddress` of the shared slots, and `reservedForAdmin` of the
 * `total` are never given to a client without the admin token: however many streams others
 * hold, an admin still gets in. Admins are bounded by `total` only.
 */
import { RideShareError } from '../../../shared/errors.ts';

export interface StreamSlotLimits {
  /** Every stream this orchestrator serves at once. */
  total: number;
  /** Of `total`, the slots only an admin gets. */
  reservedForAdmin: number;
  /** Shared slots one client address may hold. */
  perAddress: number;
}

export const DEFAULT_STREAM_SLOTS: StreamSlotLimits = { total: 32, reservedForAdmin: 8, perAddress: 4 };

/** A slot held; `release` gives it back (once, however often it is called). */
export interface StreamSlot {
  release(): void;
}

export class StreamSlots {
  private held = 0;
  private heldByAdmin = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: StreamSlotLimits) {
    if (limits.reservedForAdmin > limits.total) throw new RideShareError('CONFIG_INVALID', `${limits.reservedForAdmin} stream slots reserved for admin, of ${limits.total} in all`);
  }

  /** A slot for a client, or a coded error: TOO_MANY_REQUESTS for its address, UNAVAILABLE when full. */
  take(address: string, admin: boolean): StreamSlot {
    const { total, reservedForAdmin, perAddress } = this.limits;
    if (this.held >= total) throw new RideShareError('UNAVAILABLE', `${this.held} cluster streams are open, the most this orchestrator serves; close one or poll GET /api/v1/cluster`);
    if (admin) return this.hold(undefined, true);
    const others = this.held - this.heldByAdmin;
    if (others >= total - reservedForAdmin) {
      throw new RideShareError('UNAVAILABLE', `${others} cluster streams are open without the admin token, every slot not kept for the admin role; close one or poll GET /api/v1/cluster`);
    }
    const ofAddress = this.byAddress.get(address) ?? 0;
    if (ofAddress >= perAddress) {
      throw new RideShareError('TOO_MANY_REQUESTS', `${ofAddress} cluster streams are open from ${address}, the most one address may hold; close one or poll GET /api/v1/cluster`);
    }
    return this.hold(address, false);
  }

  private hold(address: string | undefined, admin: boolean): StreamSlot {
    this.held += 1;
    if (admin) this.heldByAdmin += 1;
    if (address !== undefined) this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.held -= 1;
        if (admin) this.heldByAdmin -= 1;
        if (address === undefined) return;
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left === 0) this.byAddress.delete(address);
        else this.byAddress.set(address, left);
      },
    };
  }
}
