# kube-proxy-ts image. One recipe for both ways of building it:
#  - with a registry at hand: `docker build -t REGISTRY/kube-proxy-ts:VERSION .` (or podman/buildah):
#    the bases are debian:trixie-slim and the packages in image/*.packages come from apt;
#  - `make image` (scripts/image.sh, no registry needed): podman with local bases that mmdebstrap made
#    from the same package lists, passed as --build-arg BUILD_BASE=… --build-arg RUNTIME_BASE=….
# Debian trixie's nodejs is 20.19: the runtime image has Node, the kernel tools, the compiled program
# and its production dependencies; npm and the TypeScript toolchain stay in the build stages.
ARG BUILD_BASE=debian:trixie-slim
ARG RUNTIME_BASE=debian:trixie-slim

FROM ${BUILD_BASE} AS build-base
COPY image/build.packages image/ensure-packages.sh /tmp/image/
RUN sh /tmp/image/ensure-packages.sh /tmp/image/build.packages
WORKDIR /app
COPY package.json package-lock.json ./

# Production dependencies in a stage of their own (npm 9's `npm prune --omit=dev` removed nothing).
# The optional build secret `npm-ca` is a CA bundle for npm behind a TLS-intercepting proxy; as a
# secret it is never written into a layer. npm's download cache is a cache mount (kept by the
# builder between builds, never in a layer). No install scripts run: every production dependency is
# plain JavaScript except `netlink` (IPVS mode's socket), whose npm package carries prebuilt N-API
# binaries for x64/arm64/arm/ia32 that it loads at run time (node-gyp-build), so nothing is compiled.
FROM build-base AS deps
RUN --mount=type=secret,id=npm-ca --mount=type=cache,target=/root/.npm \
    if [ -f /run/secrets/npm-ca ]; then export npm_config_cafile=/run/secrets/npm-ca; fi; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM build-base AS build
RUN --mount=type=secret,id=npm-ca --mount=type=cache,target=/root/.npm \
    if [ -f /run/secrets/npm-ca ]; then export npm_config_cafile=/run/secrets/npm-ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY scripts/bundle.mjs ./scripts/
# Only src/ is copied, so only the program is compiled (tests and benchmarks stay out); the bundle
# (scripts/bundle.mjs, esbuild from the dev dependencies) is what runs: one start loads a few files
# instead of ~250 modules.
RUN node node_modules/typescript/bin/tsc -p . && node scripts/bundle.mjs

FROM ${RUNTIME_BASE}
COPY image/runtime.packages image/ensure-packages.sh /tmp/image/
RUN sh /tmp/image/ensure-packages.sh /tmp/image/runtime.packages && rm -rf /tmp/image
WORKDIR /app
# package.json marks dist/ as ES modules ("type": "module").
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/bundle ./dist/bundle
LABEL org.opencontainers.image.title="kube-proxy-ts" \
      org.opencontainers.image.description="A drop-in Kubernetes kube-proxy in TypeScript (nftables, iptables, IPVS)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Runs as root, as upstream kube-proxy: see docs/deploy.md ("Why root and privileged").
ENTRYPOINT ["node", "/app/dist/bundle/main.js"]
