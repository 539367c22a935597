import { HotpathError } from '../errors.ts'

export interface FieldsetsOptions {
  /** The query parameter: `?fields=id,name` (comma-separated, or repeated). Default: `'fields'`. */
  param?: string
  /** Fields every projection keeps when the response has them (the primary key). Default: `['id']`. */
  always?: readonly string[]
  /** Property of an envelope whose items are projected: `{ data: [...], pagination }`. Default: `'data'`. */
  envelope?: string
  /** Distinct `fields` values remembered per route (parsed projection, reduced schema). Default: 256. */
  maxCached?: number
}

/** Defaults, in one place. */
export const fieldsetsDefaults = Object.freeze({
  param: 'fields',
  always: Object.freeze(['id']) as readonly string[],
  envelope: 'data',
  maxCached: 256,
})

/**
 * Where the fields apply: the body itself (`object`), the items of a body
 * that is an array (`items`), the envelope's `data` (its items, or itself
 * when it is an object), or whichever of these the body turns out to be
 * (`auto`, for routes given a plain field list).
 */
export type FieldsetTarget = 'object' | 'items' | 'envelope' | 'auto'

/** One route's fieldset: its allowed fields in response order, and where they apply. */
export interface FieldsetSpec {
  readonly fields: readonly string[]
  readonly target: FieldsetTarget
}

/** A validated `?fields=`: the fields kept, in the response's order. */
export interface Projection {
  readonly fields: readonly string[]
  /** `fields` joined: one key per distinct projection. */
  readonly key: string
}

/** A JSON schema, as far as fieldsets read one. */
export interface JsonSchema {
  type?: unknown
  properties?: Record<string, JsonSchema>
  items?: JsonSchema | JsonSchema[]
  required?: unknown
  $ref?: string
  $id?: string
  [k: string]: unknown
}

function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

const isObjectSchema = (s: JsonSchema | undefined): s is JsonSchema & { properties: object } =>
  s !== undefined &&
  s !== null &&
  typeof s === 'object' &&
  s.properties !== null &&
  typeof s.properties === 'object' &&
  (s.type === undefined || s.type === 'object')

/**
 * Sparse fieldsets: `?fields=` parsed once per distinct value (a bounded
 * cache per route), checked against the route's fields, then applied to
 * the response body before serialization.
 */
export class Fieldsets {
  readonly param: string
  readonly always: readonly string[]
  readonly envelope: string
  readonly maxCached: number
  readonly #needle: string

  constructor(o: FieldsetsOptions = {}) {
    const d = fieldsetsDefaults
    this.param = o.param ?? d.param
    if (typeof this.param !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(this.param))
      throw invalid('param', 'expected a query parameter name')
    const always = o.always ?? d.always
    if (!Array.isArray(always) || always.some((f) => typeof f !== 'string' || f === ''))
      throw invalid('always', 'expected an array of field names')
    this.always = Object.freeze([...always])
    this.envelope = o.envelope ?? d.envelope
    if (typeof this.envelope !== 'string' || this.envelope === '')
      throw invalid('envelope', 'expected a property name')
    this.maxCached = o.maxCached ?? d.maxCached
    if (!Number.isInteger(this.maxCached) || this.maxCached < 1)
      throw invalid('maxCached', 'expected a positive integer')
    this.#needle = `${this.param}=`
  }

  /**
   * The spec of a response schema, or null when it has no properties to
   * pick from. An object schema whose envelope property (`data`) is an
   * array of objects, or an object, is an envelope; `resolve` maps a
   * `$ref` to its schema.
   */
  specFromSchema(
    schema: JsonSchema | undefined,
    resolve: (ref: string) => JsonSchema | undefined = () => undefined,
  ): FieldsetSpec | null {
    const s = deref(schema, resolve)
    if (s === undefined) return null
    if (s.type === 'array') {
      const items = deref(Array.isArray(s.items) ? undefined : s.items, resolve)
      return isObjectSchema(items)
        ? { fields: Object.keys(items.properties), target: 'items' }
        : null
    }
    if (!isObjectSchema(s)) return null
    const env = deref(s.properties[this.envelope], resolve)
    if (env !== undefined) {
      const inner = env.type === 'array' ? deref(env.items as JsonSchema, resolve) : env
      if (isObjectSchema(inner))
        return { fields: Object.keys(inner.properties), target: 'envelope' }
    }
    return { fields: Object.keys(s.properties), target: 'object' }
  }

  /** The spec of an explicit field list (target `auto`, unless given). */
  specFromFields(fields: readonly string[], target: FieldsetTarget = 'auto'): FieldsetSpec {
    if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string'))
      throw invalid('fields', 'expected a non-empty array of field names')
    return { fields: Object.freeze([...new Set(fields)]), target }
  }

  /** The raw `fields` value of a URL (path and query), or null when absent or blank. */
  requested(url: string): string | null {
    const q = url.indexOf('?')
    if (q < 0 || url.indexOf(this.#needle, q) < 0) return null
    const all = new URLSearchParams(url.slice(q + 1)).getAll(this.param)
    const v = all.length === 1 ? all[0]! : all.join(',')
    return v.trim() === '' ? null : v
  }

  /** A cache of projections for one route, to pass to `select`. */
  cache(): Map<string, Projection> {
    return new Map()
  }

  /**
   * Validates a `fields` value against a spec: the projection (the named
   * fields and `always`, in the spec's order), or `HP_ERR_HTTP_UNKNOWN_FIELD`
   * naming every field the spec does not have.
   */
  select(value: string, spec: FieldsetSpec, cache?: Map<string, Projection>): Projection {
    const hit = cache?.get(value)
    if (hit !== undefined) return hit
    const wanted = new Set<string>()
    for (const part of value.split(',')) {
      const f = part.trim()
      if (f !== '') wanted.add(f)
    }
    const unknown = [...wanted].filter((f) => !spec.fields.includes(f))
    if (unknown.length > 0)
      throw new HotpathError('HP_ERR_HTTP_UNKNOWN_FIELD', [
        `${unknown.join(', ')} (known: ${spec.fields.join(', ')})`,
      ])
    for (const f of this.always) wanted.add(f)
    const fields = Object.freeze(spec.fields.filter((f) => wanted.has(f)))
    const p: Projection = Object.freeze({ fields, key: fields.join(',') })
    if (cache !== undefined) {
      if (cache.size >= this.maxCached) cache.clear()
      cache.set(value, p)
    }
    return p
  }

  /** The body with only the projection's fields; a body of another shape is returned as is. */
  project(body: unknown, p: Projection, target: FieldsetTarget): unknown {
    if (body === null || typeof body !== 'object') return body
    if (Array.isArray(body))
      return target === 'items' || target === 'auto' ? pickAll(body, p) : body
    if (target === 'items') return body
    const env = (body as Record<string, unknown>)[this.envelope]
    if (target === 'envelope' || (target === 'auto' && Array.isArray(env))) {
      if (env === null || typeof env !== 'object') return body
      return {
        ...(body as object),
        [this.envelope]: Array.isArray(env) ? pickAll(env, p) : pick(env, p),
      }
    }
    return pick(body, p)
  }

  /**
   * The response schema reduced to a projection, for a serializer that
   * still strips everything else (nested objects keep their own schema).
   * `$id`s are dropped: the copy must not clash with the shared schema.
   */
  reduceSchema(
    schema: JsonSchema,
    p: Projection,
    target: FieldsetTarget,
    resolve: (ref: string) => JsonSchema | undefined = () => undefined,
  ): JsonSchema {
    const s = deref(schema, resolve)!
    if (target === 'items')
      return { ...strip(s), items: reduceObject(deref(s.items as JsonSchema, resolve)!, p) }
    if (target === 'envelope') {
      const env = deref(s.properties![this.envelope], resolve)!
      const reduced =
        env.type === 'array'
          ? { ...strip(env), items: reduceObject(deref(env.items as JsonSchema, resolve)!, p) }
          : reduceObject(env, p)
      return { ...strip(s), properties: { ...s.properties, [this.envelope]: reduced } }
    }
    return reduceObject(s, p)
  }
}

function deref(
  s: JsonSchema | undefined,
  resolve: (ref: string) => JsonSchema | undefined,
): JsonSchema | undefined {
  for (let i = 0; i < 8 && s !== undefined && s !== null && typeof s.$ref === 'string'; i++)
    s = resolve(s.$ref)
  return s === null || typeof s !== 'object' ? undefined : s
}

function strip(s: JsonSchema): JsonSchema {
  const { $id: _, ...rest } = s
  return rest
}

function reduceObject(s: JsonSchema, p: Projection): JsonSchema {
  const properties: Record<string, JsonSchema> = {}
  for (const f of p.fields) if (s.properties?.[f] !== undefined) properties[f] = s.properties[f]
  const out: JsonSchema = { ...strip(s), properties }
  if (Array.isArray(s.required)) out.required = s.required.filter((f) => p.fields.includes(f))
  return out
}

function pick(obj: object, p: Projection): Record<string, unknown> {
  const src = obj as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const f of p.fields) {
    const v = src[f]
    if (v !== undefined) out[f] = v
  }
  return out
}

function pickAll(items: unknown[], p: Projection): unknown[] {
  const out = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const it = items[i]
    out[i] = it !== null && typeof it === 'object' && !Array.isArray(it) ? pick(it, p) : it
  }
  return out
}

export function createFieldsets(options?: FieldsetsOptions): Fieldsets {
  return new Fieldsets(options)
}
