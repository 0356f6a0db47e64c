# tenantprobe's container image: ghcr.io/tenantprobe/tenantprobe:<version>, the image deploy/ runs.
#
# From source (the builder stage compiles the release binary; the runtime stage is the default target):
#   docker build -t ghcr.io/tenantprobe/tenantprobe:0.1.0 .
# With a binary built elsewhere (a Linux x86-64 glibc build, e.g. `cargo build --release --locked`
# on Debian 12 or older): the build context is a directory holding only that binary, named
# `tenantprobe`; the runtime-prebuilt stage never touches the builder stage:
#   mkdir -p dist && cp target/release/tenantprobe dist/
#   docker build -f Dockerfile --target runtime-prebuilt -t ghcr.io/tenantprobe/tenantprobe:0.1.0 dist
#
# Both runtime targets are the same image: runtime-base plus the binary at /usr/local/bin/tenantprobe.
# Stages are ordered so that the classic builder (which builds every stage up to --target) and
# BuildKit (which builds only what the target needs) both skip the builder for runtime-prebuilt.
#
# RUNTIME_BASE is distroless "cc" (glibc, libgcc, CA certificates, no shell, ≈ 23 MB); its
# `nonroot` user is uid 65532, the uid deploy/kubernetes runs as. RUST_IMAGE must be at least the
# workspace's rust-version and built on the same Debian release as RUNTIME_BASE (glibc).
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm

FROM ${RUNTIME_BASE} AS runtime-base
LABEL org.opencontainers.image.title="tenantprobe" \
      org.opencontainers.image.description="Proves that a multi-tenant SaaS keeps its tenants apart" \
      org.opencontainers.image.source="https://github.com/tenantprobe/tenantprobe" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tenantprobe"]
CMD ["--help"]

FROM runtime-base AS runtime-prebuilt
COPY tenantprobe /usr/local/bin/tenantprobe

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Manifests and sources only (.dockerignore keeps target/ and .git out of the context).
COPY . .
RUN cargo build --release --locked --bin tenantprobe \
 && cp target/release/tenantprobe /tenantprobe

FROM runtime-base AS runtime
COPY --from=builder /tenantprobe /usr/local/bin/tenantprobe
