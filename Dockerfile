# Multi-stage build: compile in the Rust image, run in a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tozalash

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /data tozalash \
 && mkdir -p /data && chown tozalash /data
COPY --from=build /src/target/release/tozalash /usr/local/bin/tozalash
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:///data/tozalash.db?mode=rwc
USER tozalash
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["tozalash"]
CMD ["serve"]
