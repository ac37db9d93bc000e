-- wrk script for the HTTP API benchmark: one small JSON message per request (1 KiB of text).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.body = '{"from":"sender@bench.example","to":"rcpt@dest.example","subject":"bench","text":"' .. string.rep("x", 1024) .. '"}'
