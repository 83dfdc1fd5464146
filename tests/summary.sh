#!/bin/sh
# Print each test program's Check summary, the logs of failed tests, and one
# closing "N passed, N failed" line over every Check test.
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
for log in tests/*.log; do
    [ -f "$log" ] || continue
    case "$log" in tests/test-suite.log) continue ;; esac
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        echo "$(basename "$log" .log): $line"
        checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
        errors=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
        bad=$((fails + errors))
        passed=$((passed + checks - bad))
        failed=$((failed + bad))
    else
        # A script test: its .trs says PASS or FAIL.
        trs="${log%.log}.trs"
        if grep -q ':test-result: PASS' "$trs" 2>/dev/null; then
            passed=$((passed + 1))
        elif grep -q ':test-result: SKIP' "$trs" 2>/dev/null; then
            skipped=$((skipped + 1))
            echo "$(basename "$log" .log): skipped: $(grep -m1 '^SKIP:' "$log" | sed 's/^SKIP: //')"
        else
            failed=$((failed + 1))
        fi
    fi
    if grep -q ':test-result: FAIL\|:test-result: ERROR' "${log%.log}.trs" 2>/dev/null; then
        echo "---- $log ----"
        tail -n 60 "$log"
    fi
done
if [ "$skipped" -gt 0 ]; then
    echo "tests: $passed passed, $failed failed, $skipped skipped"
else
    echo "tests: $passed passed, $failed failed"
fi
