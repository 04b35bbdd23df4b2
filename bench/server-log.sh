# Sourced by the load scripts: summarize_server_log FILE counts the server log's WARN and ERROR lines
# (colours stripped) and shows the ten most frequent, timestamps cut.
summarize_server_log() {
  local plain="$1.plain"
  sed 's/\x1b\[[0-9;]*m//g' "$1" > "$plain"
  local problems
  problems=$(grep -c ' WARN \| ERROR ' "$plain" || true)
  echo "server log: $problems WARN/ERROR lines"
  if (( problems > 0 )); then
    echo "the most frequent (timestamps cut):"
    grep ' WARN \| ERROR ' "$plain" | sed 's/^[^ ]* *//' | cut -c1-240 | sort | uniq -c | sort -rn | head -10 || true
  fi
}
