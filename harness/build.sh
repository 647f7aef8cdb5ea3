#!/usr/bin/env bash
# Builds the harness CLI (the local engine) to $1, showing progress: on an
# empty Go build cache the first build compiles the CDK bindings for a few
# minutes, and a silent terminal looks hung. A warm build prints nothing.
set -euo pipefail
out=$1
pkg=./cmd/greenlight
tags=harness

total=$(go list -tags "$tags" -deps "$pkg" | wc -l)
start=$SECONDS

# show reads go build -v, which names each package as it starts compiling
# it; anything else (a compile error) passes through unchanged. On a
# terminal one line is rewritten; in a log, a line every 50 packages.
show() {
	local n=0 open=0 line msg
	while IFS= read -r line; do
		if [[ ! $line =~ ^[A-Za-z0-9._/~-]+$ ]]; then
			if [ $open = 1 ]; then printf '\n'; open=0; fi
			printf '%s\n' "$line"
			continue
		fi
		n=$((n + 1))
		if [ $n = 1 ]; then
			echo "compiling the local engine ($total packages at most; on a first build the CDK bindings take most of the time)"
		fi
		msg=$(printf '  %d/%d packages, %ds: %s' "$n" "$total" $((SECONDS - start)) "${line#github.com/aws/aws-cdk-go/}")
		if [ -t 1 ]; then
			printf '\r\033[K%s' "${msg:0:${COLUMNS:-100}}"
			open=1
		elif [ $((n % 50)) = 0 ]; then
			printf '%s\n' "$msg"
		fi
	done
	if [ $open = 1 ]; then printf '\n'; fi
	if [ $n -gt 0 ]; then echo "compiled $n packages in $((SECONDS - start))s"; fi
}

go build -v -tags "$tags" -o "$out" "$pkg" 2>&1 | show
