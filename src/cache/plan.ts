import { HotpathError } from '../errors.ts'
import { toMs } from './duration.ts'
import { checkTags } from './keys.ts'
import { type ResolvedOptions, resolveTtl } from './options.ts'
import type { GetOrSetOptions, Ttl } from './types.ts'

/** A call's options, resolved once: TTL and grace in ms, tags checked. */
export class Plan {
  readonly ttl: number
  readonly grace: number
  readonly tags: readonly string[] | null
  readonly swr: boolean
  readonly soft: number
  readonly hard: number
  readonly lock: boolean

  constructor(o: GetOrSetOptions, d: ResolvedOptions) {
    if (o === null || typeof o !== 'object') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['call options', 'expected an object'])
    }
    if (o.tier !== undefined && o.ttl !== undefined) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['ttl/tier', 'give one of ttl and tier'])
    }
    const ttl: Ttl | undefined = o.tier ?? o.ttl
    if (o.tier !== undefined && !d.tiers.has(o.tier)) {
      throw new HotpathError('HP_ERR_CACHE_UNKNOWN_TIER', [o.tier, [...d.tiers.keys()].join(', ')])
    }
    this.ttl = ttl === undefined ? d.defaultTtl : resolveTtl(ttl, d.tiers)
    this.grace = o.grace === undefined ? d.grace : o.grace === false ? 0 : toMs(o.grace, 'grace')
    const tags = o.tags === undefined ? null : checkTags(o.tags)
    this.tags = tags === null || tags.length === 0 ? null : Object.freeze([...tags])
    this.swr = o.staleWhileRevalidate === true
    this.soft =
      o.timeout?.soft === undefined ? d.timeout.soft : toMs(o.timeout.soft, 'timeout.soft')
    this.hard =
      o.timeout?.hard === undefined ? d.timeout.hard : toMs(o.timeout.hard, 'timeout.hard')
    this.lock = o.lock ?? d.lock.enabled
  }
}

/**
 * Resolves call options once per options object: a route that passes the
 * same constant options on every call pays for validation only the first time.
 */
export class Plans {
  readonly #defaults: ResolvedOptions
  readonly #byOptions = new WeakMap<object, Plan>()
  readonly base: Plan

  constructor(defaults: ResolvedOptions) {
    this.#defaults = defaults
    this.base = new Plan({}, defaults)
  }

  of(options: GetOrSetOptions | undefined): Plan {
    if (options === undefined) return this.base
    let plan = this.#byOptions.get(options)
    if (plan === undefined) {
      plan = new Plan(options, this.#defaults)
      // Options objects may be mutated between calls; only frozen ones are memoized safely.
      if (Object.isFrozen(options)) this.#byOptions.set(options, plan)
    }
    return plan
  }
}
