# syntax=docker/dockerfile:1
# Gatehouse: build the release binary, then ship it on a slim Debian.
#   docker build -t gatehouse .
#   docker run -e DATABASE_URL=... -e SECRET_KEY=... -p 8000:8000 gatehouse

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gatehouse \
    && install -m 0755 target/release/gatehouse /usr/local/bin/gatehouse

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system gatehouse \
    && useradd --system --gid gatehouse --home-dir /app --no-create-home --shell /usr/sbin/nologin gatehouse
COPY --from=builder /usr/local/bin/gatehouse /usr/local/bin/gatehouse
COPY config/ /app/config/
WORKDIR /app
USER gatehouse
ENV GATEHOUSE_ENV=production \
    GATEHOUSE__SERVER__HOST=0.0.0.0
EXPOSE 8000
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
