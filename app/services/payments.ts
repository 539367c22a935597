// The payment provider the shop charges through, and its default: a local
// simulator with configurable latency and failure rate. A real provider
// (Stripe, Adyen…) fits the same interface; its idempotency key is what makes
// a retried charge safe, and the simulator honours it the same way.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ChargeInput {
  orderId: number
  amountCents: number
  /** The same key twice is one charge: the provider answers the first result again. */
  idempotencyKey: string
}

export interface ChargeResult {
  ok: boolean
  /** The provider's reference of the charge (or of the declined attempt). */
  reference: string
  /** Why a charge was declined. */
  reason?: string
}

export interface PaymentProvider {
  /** Provider name, written on each payment row. */
  readonly name: string
  /** Resolves with the outcome (declines included); rejects only when the outcome is unknown. */
  charge(input: ChargeInput): Promise<ChargeResult>
}

export interface SimulatorOptions {
  /** Delay of each charge, in ms. Default: 50. */
  latencyMs?: number
  /** Share of charges declined, 0 to 1. Default: 0. */
  failureRate?: number
  /** Draws in [0, 1): a test passes its own to decide outcomes. Default: `Math.random`. */
  random?: () => number
}

/** How many charge results the simulator remembers per key (a real provider keeps them ~24 h). */
const REMEMBERED = 10_000

export function createPaymentSimulator({
  latencyMs = 50,
  failureRate = 0,
  random = Math.random,
}: SimulatorOptions = {}): PaymentProvider {
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError('latencyMs: expected ≥ 0')
  if (!(failureRate >= 0 && failureRate <= 1)) throw new RangeError('failureRate: expected 0 to 1')
  // Key → the first charge's result, in flight or settled: a duplicate waits for it.
  const seen = new Map<string, Promise<ChargeResult>>()

  async function charge({ amountCents }: ChargeInput): Promise<ChargeResult> {
    if (latencyMs > 0) await sleep(latencyMs)
    const reference = `sim_${randomBytes(9).toString('base64url')}`
    if (!Number.isInteger(amountCents) || amountCents < 0)
      return { ok: false, reference, reason: 'invalid amount' }
    if (failureRate > 0 && random() < failureRate)
      return { ok: false, reference, reason: 'card declined' }
    return { ok: true, reference }
  }

  return {
    name: 'simulator',
    charge(input) {
      const known = seen.get(input.idempotencyKey)
      if (known !== undefined) return known
      const result = charge(input)
      seen.set(input.idempotencyKey, result)
      if (seen.size > REMEMBERED) seen.delete(seen.keys().next().value as string)
      return result
    },
  }
}
