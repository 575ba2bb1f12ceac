# e2e_trace.jq: where each allocation's time went, from /v1/job/:id/allocations (--slurpfile A)
# with t0 (seconds since the epoch, --arg t0) the moment of `job run`. Used by bench/e2e.sh
# (E2E_TRACE=1). For each step, the distribution over allocations of its duration (ms:
# p10/p50/p90/max) and, per 0.5 s of the run, how many allocations reached each point:
#   placed    the scheduler's CreateTime
#   received  the agent's Received event (placed -> received: watch, fetch, decode)
#   setup     Task Setup (received -> setup: the agent's start queue, directories)
#   started   Started (setup -> started: log collector, spawn, the collector's answer)
#   exited    Terminated (started -> exited: the task ran, the exit seen, its status read)
#   committed the allocation's ModifyTime (exited -> committed: update batching, the server's write)
($t0 | tonumber * 1e9) as $z
| def ms: . / 1e6 | round;
  def ev(t): [ .TaskStates[]?.Events[]? | select(.Type == t) | .Time ] | min;
  def pct(p): sort | .[((length - 1) * p | floor)];
  [ $A[0][] | {placed: .CreateTime, received: ev("Received"), setup: ev("Task Setup"),
               started: ev("Started"), exited: ev("Terminated"), committed: .ModifyTime}
    | select(.received != null and .started != null and .exited != null) ] as $r
| ["placed", "received", "setup", "started", "exited", "committed"] as $k
| "trace: \($r | length) allocations with every event",
  "step (ms)              p10    p50    p90    max    sum",
  ( range(1; $k | length) as $i
    | [ $r[] | (.[$k[$i]] - .[$k[$i - 1]]) ] as $d
    | "\($k[$i - 1]) -> \($k[$i])" as $name
    | "\($name + "                       " | .[0:22])\([$d | pct(0.1), pct(0.5), pct(0.9), max | ms | tostring | ("      " + .)[-6:]] | join(" ")) \(($d | add) / 1e9 | . * 10 | round / 10 | tostring | ("      " + .)[-6:]) s" ),
  "t (s)  " + ($k | map(("         " + .)[-9:]) | join("")),
  ( ([ $r[] | .committed ] | max - $z) / 1e9 * 2 | ceil) as $n
  | range(0; $n + 1) as $b
  | ($z + $b * 5e8) as $lo | ($lo + 5e8) as $hi
  | "\($b / 2 | tostring | (. + "     ")[0:5])  " + ($k | map(. as $f | [ $r[] | .[$f] | select(. >= $lo and . < $hi) ] | length | tostring | ("         " + .)[-9:]) | join(""))
