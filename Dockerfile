# Builds the tocsin binary; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates zlib1g wamerican && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tocsin /usr/local/bin/tocsin
COPY pipelines /etc/tocsin/pipelines
# Relative paths of the pipeline (outbox, archive, spike checkpoint) live here: a volume.
WORKDIR /var/lib/tocsin
EXPOSE 9464
ENTRYPOINT ["tocsin"]
CMD ["run", "/etc/tocsin/pipelines/production.toml"]
