module mail-relay-operator/test/bench/loadgen

go 1.22
