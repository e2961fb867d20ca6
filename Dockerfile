# Patron container image.
#
#   docker build -t patron .
#   docker run -p 8080:8080 -v patron-data:/data \
#     -e PATRON_JWT_SECRET=<32+ random chars> \
#     -e PATRON_ADMIN_EMAIL=admin@example.com -e PATRON_ADMIN_PASSWORD=<password> \
#     patron
#
# Defaults: SQLite at /data/patron.db (a volume), listening on 0.0.0.0:8080.
# For PostgreSQL set DATABASE_URL=postgres://user:password@host:5432/dbname.
# Secrets (PATRON_JWT_SECRET, PATRON_ADMIN_*) are deliberately not baked in.
#
# The binary needs no shared libraries beyond glibc/libgcc: SQLite is compiled in
# (libsqlite3-sys "bundled") and so is libpq with TLS (pq-sys "bundled", against
# openssl-sys "vendored").
#
# Not built on the development machines (no Docker engine there).

############################ build stage ############################
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: build them against placeholder
# sources so this layer is reused until Cargo.toml or Cargo.lock change.
# (If targets with explicit paths are added to Cargo.toml — [[bench]], [[test]],
# [[example]] — add placeholders for them here too, or this step fails.)
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
# actix-http with a fix of ours, through [patch.crates-io] (vendor/README.md).
COPY vendor vendor
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin patron \
 && rm -rf src

# The real sources (everything not in .dockerignore: src/, migrations/, ...).
COPY . .
# COPY keeps the files' original mtimes, which can be older than the placeholder
# build above: remove the placeholder crate's build outputs so cargo cannot
# take them as up to date and ship the empty binary.
RUN rm -rf target/release/.fingerprint/patron-* \
           target/release/deps/patron-* target/release/deps/libpatron-* \
           target/release/patron \
 && cargo build --release --locked --bin patron \
 && install -m 0755 target/release/patron /usr/local/bin/patron

########################### runtime stage ###########################
FROM debian:bookworm-slim

# ca-certificates is left unpinned on purpose: it should be the current one.
# tini runs as PID 1 (see ENTRYPOINT).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 patron \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin patron \
 && mkdir -p /data \
 && chown patron:patron /data

COPY --from=builder /usr/local/bin/patron /usr/local/bin/patron

WORKDIR /data
# Created after the chown above, so a new named volume starts owned by patron.
VOLUME /data

# MALLOC_ARENA_MAX: glibc gives each busy thread its own heap and keeps what
# it freed; two arenas kept the RSS after bulk upserts at 96 MB instead of
# 177 MB, for ~5-10 % of card-read throughput (docs/BENCHMARKS.md, #7).
ENV DATABASE_URL=sqlite:///data/patron.db \
    PATRON_BIND=0.0.0.0:8080 \
    MALLOC_ARENA_MAX=2

EXPOSE 8080
# Numeric, so orchestrators can check runAsNonRoot without /etc/passwd.
USER 10001:10001

# Liveness, not readiness: /readyz is 503 while the database is down, which
# would mark every container unhealthy during a PostgreSQL outage and have an
# orchestrator restart them all, though Patron reconnects by itself. Point
# the load balancer's check at /readyz instead.
# No curl in the slim image: bash's /dev/tcp sends GET /healthz to the port in
# PATRON_BIND and checks for a 200 status line.
# The port opens only after the migrations, which can take minutes on a large
# database: failures in the 10 min start period do not count (the first
# success ends it), so Docker/Swarm does not kill a start mid-migration.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${PATRON_BIND##*:}\" && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]

# tini as PID 1, Patron its child: the kernel ignores a signal sent to PID 1
# that has no handler, and Patron installs its SIGTERM/SIGINT handlers only
# once it serves, so during the start (waiting up to PATRON_DB_TIMEOUT_SECS
# for PostgreSQL, a long migration) `docker stop` waited for SIGKILL. tini
# passes the signal on, and before the handlers exist its default action
# ends Patron. Arguments given to `docker run` still go to patron.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/patron"]
