# FedSim — make help lists the targets.
SWIFT ?= swift
RELEASE_BIN = .build/release
DEBUG_BIN = .build/debug

.PHONY: help setup build run test tbenv data movielens coldstart centralized bench bench-secagg bench-prg bench-x25519 bench-scale bench-peers experiments report report-check fuzz chaos crosscheck privacy-audit golden cluster-test cluster-showcase format lint clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install system dependencies when missing (libsodium-dev, pkg-config)
	@./scripts/setup.sh

build: setup ## Release build of fedsim, fedsim-coordinator, fedsim-client
	@./scripts/build-dir.sh
	$(SWIFT) build -c release

run: build ## Set up, build and run the default scenario (synthetic data, no download)
	$(RELEASE_BIN)/fedsim run scenarios/quickstart.yaml

test: setup tbenv ## Build and run the whole test suite (unit + multi-process integration)
	@./scripts/build-dir.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

tbenv: ## The real tensorboard package (PyPI) in .build/tbenv; the test suite reads FedSim's event files back with it
	@./scripts/tensorboard/venv.sh

data: ## Fetch MovieLens-100K from the recbole wheel on PyPI into data/ml-100k (not committed)
	@./scripts/fetch-movielens.sh data/ml-100k

movielens: build data ## Federated MF on MovieLens-100K (scenarios/movielens-100k.yaml)
	$(RELEASE_BIN)/fedsim run scenarios/movielens-100k.yaml

coldstart: build data ## New users on MovieLens-100K: FedAvg vs meta-learned initialisation (same split, same on-device adaptation), then a comparison
	$(RELEASE_BIN)/fedsim run scenarios/movielens-coldstart-fedavg.yaml --quiet --out runs/coldstart
	$(RELEASE_BIN)/fedsim run scenarios/movielens-coldstart-meta.yaml --quiet --out runs/coldstart
	$(RELEASE_BIN)/fedsim compare $$(ls -td runs/coldstart/movielens-coldstart-fedavg-* | head -1) $$(ls -td runs/coldstart/movielens-coldstart-meta-* | head -1) --html runs/coldstart/compare.html
	@for d in $$(ls -td runs/coldstart/movielens-coldstart-fedavg-* | head -1) $$(ls -td runs/coldstart/movielens-coldstart-meta-* | head -1); do $(RELEASE_BIN)/fedsim report $$d | grep -E "scenario|cold.start"; done

centralized: build data ## Centralized reference of the same model on MovieLens-100K
	$(RELEASE_BIN)/fedsim run scenarios/movielens-100k.yaml --set secure_aggregation.protocol=none --set training.mode=centralized --set training.rounds=40 --set evaluation.every=10 \
	    --set data.split.validation=false --set training.early_stopping.enabled=false --set training.local.learning_rate_schedule=constant --set evaluation.bias_baseline.enabled=false

# The newest run directory anywhere under runs/ (a folder with scenario.json and metrics.jsonl).
RUN ?= $(shell find runs -name metrics.jsonl -printf '%T@ %h\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)

report: build ## Terminal summary + report.html + metrics.csv of RUN (default: the newest run in runs/)
	@test -n "$(RUN)" || { echo "no run found; make run first, or make report RUN=runs/NAME"; exit 2; }
	$(RELEASE_BIN)/fedsim report $(RUN)

report-check: build ## Render a fresh quickstart report in headless Chromium; check its charts; screenshot to docs/report-screenshot.png
	$(RELEASE_BIN)/fedsim run scenarios/quickstart.yaml --quiet --out runs/report-check --set training.rounds=20 \
	    --set training.sampling=poisson --set training.weighting=uniform --set privacy.mechanism=distributed \
	    --set privacy.noise_multiplier=1.2 --set privacy.budget.epsilon=3 --set evaluation.every=2 > runs/report-check/last.txt
	$(RELEASE_BIN)/fedsim report $$(tail -1 runs/report-check/last.txt)
	./scripts/report-screenshot.sh $$(tail -1 runs/report-check/last.txt) docs/report-screenshot.png

experiments: build data ## The curated experiment sweeps (scenarios/experiments/); regenerates their tables in docs/results.md
	for f in scenarios/experiments/*.yaml; do $(RELEASE_BIN)/fedsim sweep $$f --out runs/experiments --quiet --write-table docs/results.md || exit $$?; done

fuzz: setup ## ≥ 1,000,000 mutated inputs through every decoder (frames, SecAgg+ stages, scenario YAML, directory, ratings, interaction logs); crashes saved to .build/fuzz
	$(SWIFT) build -c release --product fedsim-fuzz
	mkdir -p .build/fuzz
	$(RELEASE_BIN)/fedsim-fuzz --inputs $${FUZZ_INPUTS:-2000000} --seed $${FUZZ_SEED:-$$(date +%s)} --crash-dir .build/fuzz

chaos: build ## Every fault class against real processes beside fault-free runs (loopback, ~30 s); writes the table into docs/reliability.md
	$(RELEASE_BIN)/fedsim-bench chaos --write docs/reliability.md

cluster-test: build ## Three network-namespace hosts (root): mpirun run = single-host model, then one host's clients killed mid-run (docs/cluster.md)
	./scripts/cluster/cluster-test.sh

cluster-showcase: build ## 10,000,000 devices, ~10,000 a round, SecAgg+ and DP across namespace hosts (root); peak memory and round times
	./scripts/cluster/showcase.sh

golden: build data ## Behaviour unchanged? Nine short runs (every model, SecAgg+, central DP, FedBuff, compression) byte-compared with scripts/golden/expected.txt
	./scripts/golden/golden.sh check

format: ## Format Sources and Tests in place with swift-format (.swift-format: 4 spaces, 120 columns)
	$(SWIFT) format format --in-place --recursive --parallel Sources Tests

lint: ## Check formatting and the lint rules of .swift-format (CI runs it); `make format` fixes most findings
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests

clean: ## Remove build output and runs (keeps data/)
	rm -rf .build runs

bench: build ## Throughput, round time, bytes on the wire, peak RSS, kernels — each beside a same-run baseline
	$(RELEASE_BIN)/fedsim-bench --markdown

bench-peers: build data ## The issue-24 workload (federated MF on ML-100K, 100 devices a round) in FedSim, pfl-research and Flower (PyPI, venv .build/peersenv), one run: updates/s and ratios; SECAGG=1 adds FedSim vs Flower with SecAgg+ (~10 min more), SECAGG=only runs that pair alone
	SECAGG=$(SECAGG) ./scripts/bench-peers/bench-peers.sh

bench-secagg: build ## SecAgg+ device / coordinator cost and bytes for n ∈ {100, 1000, 5000}, d ∈ {1e4, 1e5}, beside the crypto floor
	$(RELEASE_BIN)/fedsim-bench secagg --markdown

bench-prg: build ## SecAgg+ mask-expansion PRG candidates, one run: ChaCha20 (libsodium, FedSim AVX-512), Salsa20, AES-256-GCM (libsodium), FedSim AES-128-CTR (AES-NI, VAES-512), and masking with each PRG; then OpenSSL AES-256-CTR and ChaCha20 as a reference
	$(RELEASE_BIN)/fedsim-bench prg --markdown
	@if command -v openssl >/dev/null 2>&1; then for c in aes-256-ctr chacha20; do openssl speed -seconds 2 -bytes 16384 -evp $$c 2>/dev/null | tail -1; done; fi

bench-x25519: build ## SecAgg+ key agreements: libsodium's X25519 one at a time vs FedSim's 8-lane AVX-512 IFMA one, same run
	$(RELEASE_BIN)/fedsim-bench x25519 --markdown

bench-scale: build ## 1k/10k/100k devices × 100/1,000 a round × plain/DP/SecAgg+/both: updates/s, round time, peak RSS, bytes; writes docs/performance.md
	$(RELEASE_BIN)/fedsim-bench scale --markdown --write docs/performance.md

privacy-audit: build ## One-run privacy audit (canaries) of every shipped DP scenario, with a power check at σ/10; table in docs/privacy.md
	scripts/audit/privacy-audit.sh

crosscheck: ## Regenerate the RDP and PLD test vectors with the live dp-accounting (PyPI) and compare
	python3 -m venv .build/dpenv
	.build/dpenv/bin/pip install --quiet --disable-pip-version-check dp-accounting==0.6.0
	.build/dpenv/bin/python scripts/crosscheck/generate_vectors.py .build/dp_vectors.json
	FEDSIM_DP_VECTORS=$(CURDIR)/.build/dp_vectors.json $(SWIFT) test --filter "RDPAccountantTests|PLDAccountantTests"
	$(SWIFT) build -c release --product fedsim-bench
	$(RELEASE_BIN)/fedsim-bench pld-check .build/dp_vectors.json  # every PLD vector in release: ε within 1%, each query ≤ 5 s and ≤ 500 MB
