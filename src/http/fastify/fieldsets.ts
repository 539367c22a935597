import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import { HotpathError } from '../../errors.ts'
import {
  type FieldsetSpec,
  Fieldsets,
  type FieldsetsOptions,
  type JsonSchema,
  type Projection,
} from '../fieldsets.ts'
import { PROBLEM_TYPE, toProblem } from '../problem.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Sparse fieldsets of this route: `false` turns them off, a list of
     * fields replaces the ones read from the response schema.
     */
    fieldsets?: false | readonly string[]
  }
  interface FastifyRequest {
    /** The validated `?fields=` of this request, or null. */
    hotpathFields: Projection | null
  }
}

export type FastifyFieldsetsOptions = FieldsetsOptions

type Hook = (...args: never[]) => unknown

function append(existing: Hook | Hook[] | undefined, hook: Hook): Hook[] {
  return existing === undefined
    ? [hook]
    : [...(Array.isArray(existing) ? existing : [existing]), hook]
}

/** The 2xx JSON response schema of a route: `200`, else `2xx`, else `default`. */
function successSchema(ro: RouteOptions): JsonSchema | undefined {
  const res = (ro.schema as { response?: Record<string, unknown> } | undefined)?.response
  if (res === undefined || res === null) return undefined
  const s = (res[200] ?? res['2xx'] ?? res.default) as JsonSchema | undefined
  // The `content` form: `{ content: { 'application/json': { schema } } }`.
  const content = s?.content as Record<string, { schema?: JsonSchema }> | undefined
  return content?.['application/json']?.schema ?? s
}

/**
 * Sparse fieldsets for Fastify. Every route whose 2xx response schema has
 * properties (an object, an array of objects, or an envelope with `data`)
 * accepts `?fields=a,b`: checked in the route's `onRequest` (unknown fields
 * → 400 problem before any work), applied in `preSerialization`, and
 * serialized by the response schema reduced to those fields (compiled once
 * per distinct projection), so fast-json-stringify still strips every
 * property the schema does not name. The `always` fields (`id`) are kept.
 * Only routes that have fieldsets get hooks; the others pay nothing.
 */
const plugin: FastifyPluginAsync<FastifyFieldsetsOptions> = async (app, options) => {
  const core = new Fieldsets(options)
  app.decorateRequest('hotpathFields', null)

  app.addHook('onRoute', function (this: FastifyInstance, ro: RouteOptions) {
    const config = ro.config as { fieldsets?: false | readonly string[] } | undefined
    if (config?.fieldsets === false) return
    const resolve = (ref: string): JsonSchema | undefined =>
      this.getSchema(ref.endsWith('#') ? ref.slice(0, -1) : ref) as JsonSchema | undefined
    const schema = successSchema(ro)
    let spec: FieldsetSpec | null
    if (Array.isArray(config?.fieldsets)) spec = core.specFromFields(config.fieldsets)
    else spec = core.specFromSchema(schema, resolve)
    if (spec === null) return
    const s: FieldsetSpec = spec
    const projections = core.cache()
    // Serializers by projection key, for routes with a schema.
    const serializers = new Map<string, (payload: unknown) => string>()
    const withSchema = schema !== undefined && !Array.isArray(config?.fieldsets)

    function onRequest(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
      const value = core.requested(req.url)
      if (value === null) {
        done()
        return
      }
      try {
        req.hotpathFields = core.select(value, s, projections)
      } catch (err) {
        if (!(err instanceof HotpathError)) throw err
        reply
          .code(err.statusCode)
          .header('content-type', PROBLEM_TYPE)
          .send(JSON.stringify(toProblem(err)))
        return
      }
      done()
    }

    function preSerialization(
      req: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      done: (err: null, payload: unknown) => void,
    ): void {
      const p = req.hotpathFields
      const status = reply.statusCode
      if (p === null || status < 200 || status > 299) {
        done(null, payload)
        return
      }
      if (withSchema) {
        let fn = serializers.get(p.key)
        if (fn === undefined) {
          if (serializers.size >= core.maxCached) serializers.clear()
          const reduced = core.reduceSchema(schema!, p, s.target, resolve)
          fn = reply.compileSerializationSchema(reduced, String(status)) as (
            payload: unknown,
          ) => string
          serializers.set(p.key, fn)
        }
        reply.serializer(fn)
      }
      done(null, core.project(payload, p, s.target))
    }

    ro.onRequest = append(ro.onRequest as Hook | Hook[] | undefined, onRequest as Hook) as never
    ro.preSerialization = append(
      ro.preSerialization as Hook | Hook[] | undefined,
      preSerialization as Hook,
    ) as never
  })
}

export const fastifyFieldsets = fp(plugin, { fastify: '5.x', name: 'hotpath-fieldsets' })
