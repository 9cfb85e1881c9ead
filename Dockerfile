# syntax=docker/dockerfile:1
# Starling's image: a build stage with every dependency compiles TypeScript and applies our
# patches; the runtime stage gets dist/, bin/ and the patched production node_modules only.
# Linted by test/deploy/dockerfile.test.ts (no Docker engine runs in CI).
#
#   docker build -t starling:0.1.0 .
#   docker run --rm -p 1883:1883 -p 8080:8080 -p 9090:9090 starling:0.1.0

# Debian bookworm slim on Node 26, the Active LTS line (since 2026-10-28, until 2027-10-20; Node 20
# reached its end of life on 2026-04-30). Exact version; pin a digest for releases:
# node:26.12.0-bookworm-slim@sha256:<digest from `docker buildx imagetools inspect`>.
# package.json `engines` stays ">=20": the code runs, and is tested, on Node 20 as well.
FROM node:26.12.0-bookworm-slim AS build
WORKDIR /app
ENV CI=true
# patches/ must be present before the install: aedes, aedes-packet, aedes-persistence, aedes-persistence-redis,
# mqtt-packet and ioredis are patched. Scripts are skipped (`prepare` would build before src/ is here)
# and patch-package runs explicitly, failing the build if a patch does not apply.
COPY package.json package-lock.json ./
COPY patches/ ./patches/
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npx patch-package --error-on-fail
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
# Compile, then drop the dev dependencies (typescript, patch-package, test tools). The patched
# production packages stay as they are: prune only removes packages.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:26.12.0-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node (which drains) and reaps zombies. Debian's package,
# pinned; the chart's preStop hook uses this image's `sleep`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*
# The embedded mode's data directory (tenancy, generated signing secret): writable by the user
# below only; the chart mounts a volume at the same path.
RUN mkdir -p /var/lib/starling \
 && chown 1000:1000 /var/lib/starling \
 && chmod 0700 /var/lib/starling
WORKDIR /app
ENV NODE_ENV=production
ENV STARLING_DATA_DIR=/var/lib/starling
VOLUME ["/var/lib/starling"]
# Owned by root, read-only for the user that runs it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin/ ./bin/
# Embedded mode keeps namespaces, brokers and signing keys in ./data (dataDir): writable by the
# image's user. Cluster mode keeps them in Redis and never touches it.
RUN mkdir -m 0700 /app/data && chown 1000:1000 /app/data
# uid 1000 is `node` in the base image; numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
# MQTT, MQTT over TLS, WebSocket, secure WebSocket, HTTP (/healthz, /readyz, /metrics).
EXPOSE 1883 8883 8080 8081 9090
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=40s --retries=3 \
  CMD ["node", "-e", "require('node:http').get({ host: '127.0.0.1', port: process.env.STARLING_HTTP_PORT || 9090, path: '/healthz', timeout: 2000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/starling.js"]
CMD ["serve"]
