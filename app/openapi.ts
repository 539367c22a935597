// An OpenAPI 3.0 document built from the routes' own JSON schemas, so the
// docs cannot drift from what the server validates and serializes.
import type { FastifyInstance, RouteOptions } from 'fastify'

interface RouteSchema {
  summary?: string
  tags?: readonly string[]
  params?: { properties?: Record<string, object>; required?: readonly string[] }
  querystring?: { properties?: Record<string, object>; required?: readonly string[] }
  response?: Record<string, object>
}

interface Collected {
  method: string
  url: string
  schema: RouteSchema | undefined
}

export interface OpenApi {
  /** The document, built on first use (every route is registered by then). */
  document(): Record<string, unknown>
  /** The routes, in registration order: `GET /api/products`. */
  routes(): { method: string; path: string; summary: string }[]
}

function parameters(where: 'path' | 'query', schema: RouteSchema['params']): object[] {
  const required = new Set(schema?.required ?? [])
  return Object.entries(schema?.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
  }))
}

/** Call before registering routes: it records each one through an onRoute hook. */
export function collectOpenApi(
  app: FastifyInstance,
  info: { title: string; version: string },
): OpenApi {
  const collected: Collected[] = []
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue
      collected.push({ method, url: route.url, schema: route.schema as RouteSchema | undefined })
    }
  })
  let doc: Record<string, unknown> | null = null
  const path = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

  return {
    document() {
      if (doc !== null) return doc
      const paths: Record<string, Record<string, object>> = {}
      for (const r of collected) {
        const s = r.schema
        const responses: Record<string, object> = {}
        for (const [status, body] of Object.entries(s?.response ?? { 200: {} })) {
          responses[status] = {
            description: status === '200' ? 'OK' : 'Error (application/problem+json)',
            content: { 'application/json': { schema: body } },
          }
        }
        paths[path(r.url)] ??= {}
        paths[path(r.url)]![r.method.toLowerCase()] = {
          summary: s?.summary ?? '',
          tags: s?.tags ?? [],
          parameters: [...parameters('path', s?.params), ...parameters('query', s?.querystring)],
          responses,
        }
      }
      doc = { openapi: '3.0.3', info, paths }
      return doc
    },
    routes() {
      return collected.map((r) => ({
        method: r.method,
        path: path(r.url),
        summary: r.schema?.summary ?? '',
      }))
    },
  }
}
