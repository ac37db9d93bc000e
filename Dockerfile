# syntax=docker/dockerfile:1
# One image, two programs: `mail-relay` (the relay) and `mail-relay-operator` (the operator).
# Pods choose one with `command:`; without one the image runs the operator.
#   docker build -t ghcr.io/mail-relay-operator/mail-relay-operator:0.1.0 .
#   docker build --build-arg NODE_MAJOR=24 ...   # another Node.js line
#   docker build --build-arg NODE_IMAGE=registry.example/node:26-slim ...   # another base image
# The code is tested on Node.js 20 and later; the default is the current LTS line (26).
ARG NODE_MAJOR=26
ARG NODE_IMAGE=node:${NODE_MAJOR}-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY relay/src relay/src
COPY operator/src operator/src
RUN npm run build

FROM ${NODE_IMAGE} AS production-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
# package.json's bin entries, on PATH; the files are executable and start with `#!/usr/bin/env node`
RUN ln -s /app/dist/relay/src/main.js /usr/local/bin/mail-relay \
 && ln -s /app/dist/operator/src/main.js /usr/local/bin/mail-relay-operator
# The base image's entrypoint is a shell script; these programs need no shell.
ENTRYPOINT []
CMD ["mail-relay-operator"]
USER 65532:65532
# SMTP listeners, the relay's HTTP API, metrics (relay 9090, operator 8080)
EXPOSE 25 465 587 2525 8080 9090
