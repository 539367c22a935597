// /docs: the OpenAPI document as JSON and a small self-contained HTML page
// listing the routes (no scripts, styles or fonts from the network).
import type { FastifyPluginAsync } from 'fastify'
import type { OpenApi } from '../openapi.ts'

export interface DocsRoutesOptions {
  openapi: OpenApi
}

const html = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export const docsRoutes: FastifyPluginAsync<DocsRoutesOptions> = async (app, { openapi }) => {
  app.get('/docs/openapi.json', async () => openapi.document())

  let page: string | null = null
  app.get('/docs', async (_request, reply) => {
    page ??= render(openapi)
    return reply.type('text/html; charset=utf-8').send(page)
  })
}

function render(openapi: OpenApi): string {
  const info = openapi.document().info as { title: string; version: string }
  const rows = openapi
    .routes()
    .filter((r) => !r.path.startsWith('/docs'))
    .map(
      (r) =>
        `<tr><td><code>${r.method}</code></td><td><code>${html(r.path)}</code></td><td>${html(r.summary)}</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(info.title)}</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}td{padding:.3rem .8rem;border-bottom:1px solid #ddd}code{font-size:14px}</style>
</head><body>
<h1>${html(info.title)} <small>${html(info.version)}</small></h1>
<p>The full description: <a href="/docs/openapi.json">/docs/openapi.json</a> (OpenAPI 3.0).</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th></tr></thead><tbody>
${rows}
</tbody></table>
</body></html>
`
}
