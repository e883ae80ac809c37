# Gatehouse developer tasks. `make` (or `make help`) lists them.
#
# Database: run/migrate/createsuperuser use $DATABASE_URL when set; otherwise
# scripts/dev-db.sh finds or starts a PostgreSQL server and the database
# `gatehouse` on it is used (`gatehouse migrate` creates it when missing).
# test uses $GATEHOUSE_TEST_PG_URL (a server URL, no database) the same way.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
ARGS ?=
DEV_DB ?= bash scripts/dev-db.sh
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

# Shell snippet: export DATABASE_URL (given, or dev server + /gatehouse) and
# GATEHOUSE_ENV (default development).
WITH_DB = url="$${DATABASE_URL:-}"; \
	if [ -z "$$url" ]; then base=$$($(DEV_DB)) || exit 1; url="$$base/gatehouse"; fi; \
	export DATABASE_URL="$$url"; \
	export GATEHOUSE_ENV="$${GATEHOUSE_ENV:-development}";

.PHONY: help build run migrate createsuperuser seed-users test fmt fmt-check lint bench fuzz \
	db-stop docker-up docker-down clean

help: ## List the targets
	@echo "Usage: make <target>"
	@echo
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

build: ## Build the release binary (target/release/gatehouse)
	$(CARGO) build --release --bin gatehouse

run: ## Migrate and serve (dev PostgreSQL unless DATABASE_URL is set)
	@$(WITH_DB) \
	$(CARGO) run --release --bin gatehouse -- migrate && \
	exec $(CARGO) run --release --bin gatehouse -- serve

migrate: ## Apply database migrations (creates the database if needed)
	@$(WITH_DB) \
	$(CARGO) run --release --bin gatehouse -- migrate

createsuperuser: ## Create an admin: make createsuperuser ARGS="--username U --email E"
	@$(WITH_DB) \
	$(CARGO) run --release --bin gatehouse -- createsuperuser $(ARGS)

# Shell snippet: export GATEHOUSE_TEST_PG_URL (given, or the dev server); tests and
# benchmarks make a fresh database on it per test and drop it afterwards.
WITH_TEST_PG = pg="$${GATEHOUSE_TEST_PG_URL:-}"; \
	if [ -z "$$pg" ]; then pg=$$($(DEV_DB)) || exit 1; fi; \
	export GATEHOUSE_TEST_PG_URL="$$pg";

N ?= 100000
seed-users: ## Add N users (default 100000) to the dev database: make seed-users N=100000
	@$(WITH_DB) \
	$(CARGO) run --release --bin gatehouse -- migrate && \
	psql "$$DATABASE_URL" -v ON_ERROR_STOP=1 -v count=$(N) -q -f scripts/seed-users.sql && \
	echo "Seeded $(N) users."

test: ## Run the workspace tests (nextest if installed; no doctests)
	@$(WITH_TEST_PG) \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "+ cargo nextest run --workspace --no-fail-fast"; \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		echo "+ cargo test --workspace --no-fail-fast --lib --bins --tests"; \
		$(CARGO) test --workspace --no-fail-fast --lib --bins --tests; \
	fi

fmt: ## Format all crates
	$(CARGO) fmt --all

fmt-check: ## Check formatting (CI)
	$(CARGO) fmt --all -- --check

lint: ## Clippy on every target, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: ## Benchmarks (release): login at cost 12, tokens, email outbox, admin list at 100k users, verify (throttled, per signing algorithm), Django import of 100k users
	@$(WITH_TEST_PG) \
	$(CARGO) bench -p api --bench login && \
	$(CARGO) bench -p api --bench email && \
	$(CARGO) bench -p api --bench admin_list && \
	$(CARGO) bench -p api --bench throttle && \
	$(CARGO) bench -p api --bench import_django

FUZZ_TARGET ?= body
FUZZ_SECONDS ?= 60
fuzz: ## Fuzz a reader on nightly (installed if missing): make fuzz FUZZ_TARGET=body|jwt FUZZ_SECONDS=60
	bash scripts/fuzz.sh $(FUZZ_TARGET) $(FUZZ_SECONDS)

db-stop: ## Stop the project-local PostgreSQL (.pgdata)
	$(DEV_DB) stop

docker-up: ## Start the whole stack with docker compose
	$(COMPOSE) up -d

docker-down: ## Stop the docker compose stack
	$(COMPOSE) down

clean: ## Remove build artefacts (cargo clean)
	$(CARGO) clean
