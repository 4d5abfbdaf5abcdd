// The HTTP API (Fastify 5). Request bodies, params and queries are validated with zod (through a
// validator compiler that keeps zod's issue paths, so every 4xx names the field); the OpenAPI
// document is generated from the same schemas (@fastify/swagger + fastify-type-provider-zod's
// transform) and served at /openapi.json.
//
// Errors: `{ error: { code, message, field } }` with 400 (bad input, malformed JSON), 401, 403,
// 404 (unknown route or id), 409, 413 (body too large), 415, 429 (rate limit), 500. A request
// that fails validation or authorization changes nothing: checks run before any write, and
// writes that touch several rows run in one store transaction.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Principal, Store } from '../core/store.js';
import { Authenticator, sha256Hex } from './auth.js';
import type { Clock } from './clock.js';
import type { ControlLoop } from './control-loop.js';
import { ApiError, asApiError, fieldPath } from './errors.js';
import type { EventBus } from './events.js';
import type { ServerMetrics } from './metrics.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerCreditRoutes } from './routes/credits.js';
import { registerFleetRoutes } from './routes/fleet.js';
import { registerMarketRoutes } from './routes/market.js';
import type { SimulatedFleet } from './sim-fleet.js';
import { TelemetryWriter } from './telemetry-writer.js';

export interface AppLimits {
  /** Largest request body, bytes (default 1 MiB). */
  bodyLimitBytes: number;
  /** Largest telemetry batch, bytes (default 8 MiB). */
  telemetryBodyLimitBytes: number;
  /** Requests per minute per token (or per client address without a token). Default 6,000. */
  rateLimitPerMinute: number;
}

export const DEFAULT_LIMITS: AppLimits = { bodyLimitBytes: 1 << 20, telemetryBodyLimitBytes: 8 << 20, rateLimitPerMinute: 6000 };

export interface AppDeps {
  store: Store;
  loop: ControlLoop;
  events: EventBus;
  metrics: ServerMetrics;
  clock: Clock;
  /** The embedded simulated fleet, when there is one (instances added through the API join it). */
  fleet?: SimulatedFleet;
  /** Folder with the dashboard (index.html and assets). Default: <repo>/web. */
  webRoot?: string;
  limits?: Partial<AppLimits>;
  /** Fastify's logger (default off). */
  logger?: boolean;
  /** Shared telemetry writer (default: a new one on the store). */
  telemetry?: TelemetryWriter;
  /** The control loop's policy profile, shown by /v1/status. */
  loopPolicy?: { profile: string; policy: string };
}

/** What route handlers share. */
export interface ApiContext extends AppDeps {
  auth: Authenticator;
  limits: AppLimits;
  /** Group commit of telemetry batches (one transaction for the batches that arrive together). */
  telemetry: TelemetryWriter;
  /** Runtime feedback per instance (the latest report). */
  runtime: Map<string, { runtimeSeconds?: number; completed?: boolean; atMs: number }>;
  startedAtMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** No bearer token needed. */
    public?: boolean;
  }
}

export type Api = FastifyInstance<any, any, any, any, ZodTypeProvider>;

/** The authenticated principal of a request (set by the onRequest hook). */
export function principalOf(req: FastifyRequest): Principal {
  const p = req.principal;
  if (!p) throw new ApiError(401, 'unauthorized', 'missing bearer token', 'headers.authorization');
  return p;
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function buildApp(deps: AppDeps): Promise<Api> {
  const limits: AppLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const ctx: ApiContext = {
    ...deps,
    auth: new Authenticator(deps.store, () => deps.clock.nowMs()),
    telemetry: deps.telemetry ?? new TelemetryWriter(deps.store),
    limits,
    runtime: new Map(),
    startedAtMs: deps.clock.nowMs(),
  };
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyLimitBytes,
    // A body that is not JSON is refused by content type (415), malformed JSON with 400.
    return503OnClosing: true,
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body is refused with 415 instead of being validated as a string.
  app.removeContentTypeParser('text/plain');

  // zod validation that keeps every issue with its path.
  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const r = (schema as z.ZodType).safeParse(data);
    if (r.success) return { value: r.data };
    const err = new Error('validation failed') as Error & { issues: z.core.$ZodIssue[]; httpPart?: string };
    err.issues = r.error.issues;
    if (httpPart !== undefined) err.httpPart = httpPart;
    return { error: err };
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const api = toApiError(err);
    if (api.statusCode >= 500) req.log.error({ err }, 'request failed');
    void reply.code(api.statusCode).type('application/json').send(api.body());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`, 'url').body());
  });

  // Rate limit per token (or per client address without one).
  await app.register(fastifyRateLimit, {
    global: true,
    max: limits.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => {
      const h = req.headers.authorization;
      return typeof h === 'string' ? `t:${sha256Hex(h).slice(0, 24)}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, c) => new ApiError(429, 'rate_limited', `rate limit: at most ${c.max} requests per ${Math.round(c.ttl / 1000) || 60} s; retry after ${c.after}`, null),
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'prescient control plane',
        description: 'Predictive resource manager: fleet, forecasts, workload market, telemetry. Bearer tokens (roles admin, tenant, agent).',
        version: '0.1.0',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  // Authentication: every route but the public ones needs a valid bearer token (checked before the body is read).
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public) return;
    if (req.is404) return;
    req.principal = await ctx.auth.require(req);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    deps.metrics.httpSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  registerPublicRoutes(app, ctx);
  registerMarketRoutes(app, ctx);
  registerFleetRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerCreditRoutes(app, ctx);
  await app.ready();
  return app;
}

function toApiError(err: unknown): ApiError {
  const known = asApiError(err);
  if (known) return known;
  const e = err as { statusCode?: number; code?: string; message?: string; issues?: z.core.$ZodIssue[]; validationContext?: string; validation?: Array<{ instancePath?: string; message?: string }> };
  if (e && Array.isArray(e.issues) && e.issues.length > 0) {
    const prefix = e.validationContext === 'body' ? '' : e.validationContext === 'querystring' ? 'query' : (e.validationContext ?? '');
    const first = e.issues[0]!;
    const field = first.path.length === 0 ? (prefix || 'body') : fieldPath(prefix, first.path);
    const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more: ${e.issues.slice(1, 4).map((i) => fieldPath(prefix, i.path)).join(', ')})` : '';
    return new ApiError(400, 'invalid', `${field}: ${first.message}${more}`, field);
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const message = e?.message ?? String(err);
  if (status === 413) return new ApiError(413, 'payload_too_large', message, 'body');
  if (status === 415) return new ApiError(415, 'unsupported_media_type', `${message}; send application/json`, 'headers.content-type');
  if (status === 429) return new ApiError(429, 'rate_limited', message, null);
  if (status >= 400 && status < 500) {
    const field = e?.code?.startsWith('FST_ERR_CTP') ? 'body' : null;
    return new ApiError(status, status === 404 ? 'not_found' : 'bad_request', field === 'body' ? `body: ${message}` : message, field);
  }
  return new ApiError(500, 'internal', `internal error: ${message}`, null, { cause: err });
}

const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prescient</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .25rem}</style>
</head><body>
<h1>prescient</h1>
<p>The dashboard is being built. The control plane is running: its API is live.</p>
<ul>
<li><a href="/healthz">/healthz</a>: health</li>
<li><a href="/openapi.json">/openapi.json</a>: the API (OpenAPI 3)</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><code>GET /v1/hosts</code>, <code>GET /v1/instances</code>, <code>GET /v1/events</code> (server-sent events): with <code>Authorization: Bearer &lt;token&gt;</code></li>
</ul>
</body></html>
`;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/** A file under `root` (no escaping it), or undefined. */
function safeFile(root: string, rel: string): string | undefined {
  const full = normalize(join(root, rel));
  if (full !== root && !full.startsWith(root + sep)) return undefined;
  try {
    return statSync(full).isFile() ? full : undefined;
  } catch {
    return undefined;
  }
}

function registerPublicRoutes(app: Api, ctx: ApiContext): void {
  const webRoot = resolve(ctx.webRoot ?? join(REPO_ROOT, 'web'));
  const pub = { public: true };
  const hide = { hide: true } as const;

  app.get('/healthz', { config: { ...pub, rateLimit: false }, schema: { summary: 'Health: the store answers and the control loop ticks', tags: ['public'] } }, async (_req, reply) => {
    let storeOk = true;
    let schemaVersion: number | null = null;
    try {
      schemaVersion = await ctx.store.schemaVersion();
    } catch {
      storeOk = false;
    }
    const last = ctx.loop.lastReport;
    const body = {
      status: storeOk ? 'ok' : 'degraded',
      store: { ok: storeOk, schemaVersion },
      loop: { running: ctx.loop.isRunning, tick: ctx.loop.currentTick, tickMs: ctx.loop.tickMs, lastTickMs: last?.durationMs ?? null, lastTickAtMs: last?.startedAtMs ?? null },
      uptimeSeconds: (ctx.clock.nowMs() - ctx.startedAtMs) / 1000,
    };
    return reply.code(storeOk ? 200 : 503).send(body);
  });

  app.get('/metrics', { config: { ...pub, rateLimit: false }, schema: { summary: 'Prometheus metrics', tags: ['public'] } }, async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', { config: pub, schema: { ...hide } }, async () => app.swagger());

  app.get('/', { config: pub, schema: { ...hide } }, async (_req, reply) => {
    const index = join(webRoot, 'index.html');
    if (existsSync(index)) return reply.type(MIME['.html']!).header('cache-control', 'no-cache').send(readFileSync(index));
    return reply.type(MIME['.html']!).send(PLACEHOLDER_PAGE);
  });

  // Dashboard assets: files under web/ at /web/<path>, and uPlot from node_modules.
  app.get('/web/*', { config: pub, schema: { ...hide } }, async (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    const file = safeFile(webRoot, rel);
    if (!file) throw new ApiError(404, 'not_found', `no file /web/${rel}`, 'url');
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(readFileSync(file));
  });
  const uplotDir = join(REPO_ROOT, 'node_modules', 'uplot', 'dist');
  app.get('/vendor/uplot/*', { config: pub, schema: { ...hide } }, async (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    const file = safeFile(uplotDir, rel);
    if (!file) throw new ApiError(404, 'not_found', `no file /vendor/uplot/${rel}`, 'url');
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').header('cache-control', 'max-age=3600').send(readFileSync(file));
  });
}
