// An OpenAPI 3.0 document built from the routes' own JSON schemas, so the
// docs cannot drift from what the server validates and serializes.
import type { FastifyInstance, RouteOptions } from 'fastify'

interface RouteSchema {
  summary?: string
  tags?: readonly string[]
  params?: { properties?: Record<string, object>; required?: readonly string[] }
  querystring?: { properties?: Record<string, object>; required?: readonly string[] }
  headers?: { properties?: Record<string, object> }
  body?: object
  response?: Record<string, object>
}

const SUCCESS: Record<string, string> = { 200: 'OK', 201: 'Created' }

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
          responses[status] =
            status === '204'
              ? { description: 'No Content' }
              : {
                  description: SUCCESS[status] ?? 'Error (application/problem+json)',
                  content: { 'application/json': { schema: body } },
                }
        }
        // A route that reads the Authorization header takes the bearer token.
        const secured = s?.headers?.properties?.authorization !== undefined
        paths[path(r.url)] ??= {}
        paths[path(r.url)]![r.method.toLowerCase()] = {
          summary: s?.summary ?? '',
          tags: s?.tags ?? [],
          parameters: [...parameters('path', s?.params), ...parameters('query', s?.querystring)],
          ...(s?.body === undefined
            ? {}
            : {
                requestBody: {
                  required: true,
                  content: { 'application/json': { schema: s.body } },
                },
              }),
          ...(secured ? { security: [{ bearer: [] }] } : {}),
          responses,
        }
      }
      doc = {
        openapi: '3.0.3',
        info,
        paths,
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      }
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
