# syntax=docker/dockerfile:1
# Both images from one workspace build. From the repository top:
#   docker buildx bake                       # both, see docker-bake.hcl
#   docker build --target app -t replenish:dev .
#   docker build --target operator -t replenish-operator:dev .
# Building both targets shares every stage up to `build`: the dependencies are compiled
# once, cached as a layer keyed by the recipe (cargo-chef), and rebuilt only when
# Cargo.toml/Cargo.lock change, not on every source change.

# Bookworm builder to match the glibc of the distroless runtime below.
FROM rust:1.94-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# The recipe: manifests and lock file only, so it changes only when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# The commit reaches the binaries' replenish_build_info metric; passed only to this step,
# so a new commit does not invalidate the dependency layer above.
ARG REVISION=unknown
RUN REPLENISH_GIT_COMMIT="$REVISION" \
    cargo build --release --locked -p replenish-app -p replenish-operator \
      --bin replenish --bin replenish-operator

# glibc, libgcc, CA certificates and tzdata, no shell; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED
LABEL org.opencontainers.image.vendor="Replenish" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.url="https://replenish.dev" \
      org.opencontainers.image.source="https://github.com/replenish/replenish" \
      org.opencontainers.image.documentation="https://github.com/replenish/replenish#readme" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# Numeric, so Kubernetes can verify runAsNonRoot without a runAsUser.
USER 65532:65532

FROM runtime AS operator
LABEL org.opencontainers.image.title="replenish-operator" \
      org.opencontainers.image.description="Kubernetes operator turning Tenant and Device resources into provisioned Replenish tenants"
# kube uses rustls, so no OpenSSL is needed.
COPY --from=build /src/target/release/replenish-operator /usr/local/bin/replenish-operator
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/replenish-operator"]
CMD ["run"]

# Last, so a plain `docker build .` gives the app.
FROM runtime AS app
LABEL org.opencontainers.image.title="replenish" \
      org.opencontainers.image.description="Replenish: multi-tenant auto-replenishment API (actix-web)"
COPY --from=build /src/target/release/replenish /usr/local/bin/replenish
# In a container: listen on every interface and log JSON. The chart sets these too.
ENV REPLENISH_LISTEN=0.0.0.0:8080 \
    REPLENISH_LOG_FORMAT=json
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/replenish"]
CMD ["serve"]
