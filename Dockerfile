# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian.
# BuildKit cache mounts keep the cargo registry and the target folder between
# builds, so a source change recompiles the workspace crates, not the ~480
# dependencies. (Needs BuildKit: the default builder of Docker 23+.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=tozalash-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=tozalash-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=tozalash-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin tozalash \
 && cp target/release/tozalash /usr/local/bin/tozalash

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /data tozalash \
 && mkdir -p /data && chown tozalash /data
COPY --from=build /usr/local/bin/tozalash /usr/local/bin/tozalash
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:///data/tozalash.db?mode=rwc
USER tozalash
WORKDIR /data
VOLUME /data
EXPOSE 8080
# The image has no curl: the binary probes itself (GET /health/ready on $PORT).
HEALTHCHECK --interval=10s --timeout=7s --start-period=30s --retries=3 \
  CMD ["tozalash", "healthcheck"]
ENTRYPOINT ["tozalash"]
CMD ["serve"]
