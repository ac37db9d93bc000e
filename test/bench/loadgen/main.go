// loadgen — an SMTP submission load generator for the production-shaped benchmark
// (test/bench/production.sh). smtp-source speaks neither STARTTLS nor AUTH, and net/smtp
// cannot reuse a connection for several transactions with per-message timing, so the dialogue
// is written here on net + crypto/tls, standard library only.
//
// N messages of S bytes over C workers to -addr; each connection carries -reuse messages.
// Latency of a message: from its first byte on the wire (the TCP connect for the first message
// of a connection, so connect + STARTTLS + AUTH count where a client pays them; MAIL FROM for
// the others) to the 250 after the final dot. Prints one JSON object, including the process's own
// CPU time (getrusage), so the load generator's cost per message is known.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	addr, from, to, ehlo, serverName, user, pass string
	n, size, conc, reuse                         int
	starttls, insecure, resume                   bool
	timeout                                      time.Duration
}

type result struct {
	Sent       int64   `json:"sent"`
	Failed     int64   `json:"failed"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgsPerSec"`
	P50Ms      float64 `json:"p50Ms"`
	P90Ms      float64 `json:"p90Ms"`
	P99Ms      float64 `json:"p99Ms"`
	CPUUserSec float64 `json:"cpuUserSec"`
	CPUSysSec  float64 `json:"cpuSysSec"`
	Conns      int64   `json:"connections"`
	Resumed    int64   `json:"tlsResumed"`
	FirstError string  `json:"firstError,omitempty"`
}

func main() {
	o := options{}
	var auth string
	flag.StringVar(&o.addr, "addr", "127.0.0.1:587", "host:port of the SMTP server")
	flag.IntVar(&o.n, "n", 1000, "messages to send")
	flag.IntVar(&o.size, "size", 4096, "message size in bytes (headers included)")
	flag.IntVar(&o.conc, "c", 10, "concurrent connections (workers)")
	flag.IntVar(&o.reuse, "reuse", 1, "messages per connection")
	flag.BoolVar(&o.starttls, "starttls", false, "STARTTLS after EHLO (required before AUTH)")
	flag.StringVar(&auth, "auth", "", "user:pass for AUTH PLAIN")
	flag.StringVar(&o.from, "from", "sender@bench.example", "envelope sender and From:")
	flag.StringVar(&o.to, "to", "rcpt@dest.example", "envelope recipient and To:")
	flag.StringVar(&o.ehlo, "ehlo", "loadgen.bench.example", "EHLO name")
	flag.StringVar(&o.serverName, "servername", "bench.localhost", "TLS server name (SNI)")
	// The benchmark's certificate is self-signed and made per run on loopback: verifying it
	// would prove nothing about the relay and cost the same on both systems.
	flag.BoolVar(&o.insecure, "insecure", false, "do not verify the server certificate (loopback benchmarks)")
	flag.BoolVar(&o.resume, "resume", true, "TLS session resumption (a shared client session cache)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "deadline for one connection")
	flag.Parse()
	if auth != "" {
		u, p, ok := strings.Cut(auth, ":")
		if !ok {
			fmt.Fprintln(os.Stderr, "-auth must be user:pass")
			os.Exit(2)
		}
		o.user, o.pass = u, p
		if !o.starttls {
			fmt.Fprintln(os.Stderr, "-auth needs -starttls: passwords never travel in clear")
			os.Exit(2)
		}
	}
	if o.n < 1 || o.conc < 1 || o.reuse < 1 || o.size < 256 {
		fmt.Fprintln(os.Stderr, "-n, -c, -reuse must be >= 1 and -size >= 256")
		os.Exit(2)
	}
	out, _ := json.Marshal(run(o))
	fmt.Println(string(out))
}

func run(o options) result {
	tlsConf := &tls.Config{ServerName: o.serverName, InsecureSkipVerify: o.insecure}
	if o.resume {
		tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(o.conc * 4)
	}
	body := buildBody(o)
	var next, sent, failed, conns, resumed atomic.Int64
	var errOnce sync.Once
	var firstErr string
	lat := make([][]float64, o.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				// claim the messages of the next connection before opening it (each message is tried once)
				first := next.Add(int64(o.reuse)) - int64(o.reuse)
				if first >= int64(o.n) {
					return
				}
				count := min(int64(o.reuse), int64(o.n)-first)
				conns.Add(1)
				ok, res, err := connection(o, tlsConf, body, first, int(count), &lat[w])
				sent.Add(int64(ok))
				if res {
					resumed.Add(1)
				}
				if err != nil {
					failed.Add(count - int64(ok))
					errOnce.Do(func() { firstErr = err.Error() })
				}
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Float64s(all)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return result{
		Sent: sent.Load(), Failed: failed.Load(), Seconds: round(secs, 3), MsgsPerSec: round(float64(sent.Load())/secs, 1),
		P50Ms: pct(all, 50), P90Ms: pct(all, 90), P99Ms: pct(all, 99),
		CPUUserSec: round(tv(ru.Utime), 3), CPUSysSec: round(tv(ru.Stime), 3),
		Conns: conns.Load(), Resumed: resumed.Load(), FirstError: firstErr,
	}
}

// buildBody: the part after the per-message headers, lines of 76 characters (none starts with
// a dot, so no dot-stuffing is needed), sized so the whole message is o.size bytes.
func buildBody(o options) []byte {
	hdr := len(header(o, 0))
	left := max(o.size-hdr-2, 2)
	var b strings.Builder
	b.WriteString("\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for left > 0 {
		if left >= len(line) {
			b.WriteString(line)
			left -= len(line)
		} else {
			b.WriteString(strings.Repeat("y", max(left-2, 0)) + "\r\n")
			left = 0
		}
	}
	return []byte(b.String())
}

func header(o options, i int64) string {
	return fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: loadgen message %010d\r\nDate: %s\r\nMessage-ID: <%010d.%d@loadgen.bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n",
		o.from, o.to, i, time.Unix(1764806400, 0).UTC().Format(time.RFC1123Z), i, os.Getpid())
}

type client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// reply reads one (possibly multi-line) reply and checks its code's first digit.
func (c *client) reply(want byte) (string, error) {
	var all strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return all.String(), err
		}
		all.WriteString(line)
		if len(line) < 4 || line[0] != want {
			return all.String(), fmt.Errorf("unexpected reply %q", strings.TrimSpace(all.String()))
		}
		if line[3] != '-' {
			return all.String(), nil
		}
	}
}

func (c *client) cmd(want byte, format string, args ...any) (string, error) {
	fmt.Fprintf(c.w, format+"\r\n", args...)
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	return c.reply(want)
}

// connection sends count messages (numbered from first) on one connection; returns how many
// got 250 and whether TLS resumed a session.
func connection(o options, tlsConf *tls.Config, body []byte, first int64, count int, lat *[]float64) (int, bool, error) {
	t0 := time.Now()
	raw, err := net.DialTimeout("tcp", o.addr, o.timeout)
	if err != nil {
		return 0, false, err
	}
	defer raw.Close()
	_ = raw.SetDeadline(t0.Add(o.timeout))
	c := &client{conn: raw, r: bufio.NewReaderSize(raw, 4096), w: bufio.NewWriterSize(raw, 64*1024)}
	if _, err := c.reply('2'); err != nil {
		return 0, false, fmt.Errorf("banner: %w", err)
	}
	ehlo, err := c.cmd('2', "EHLO %s", o.ehlo)
	if err != nil {
		return 0, false, fmt.Errorf("EHLO: %w", err)
	}
	resumed := false
	if o.starttls {
		if !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
			return 0, false, errors.New("server does not offer STARTTLS")
		}
		if _, err := c.cmd('2', "STARTTLS"); err != nil {
			return 0, false, fmt.Errorf("STARTTLS: %w", err)
		}
		tc := tls.Client(raw, tlsConf)
		if err := tc.Handshake(); err != nil {
			return 0, false, fmt.Errorf("TLS handshake: %w", err)
		}
		resumed = tc.ConnectionState().DidResume
		c = &client{conn: tc, r: bufio.NewReaderSize(tc, 4096), w: bufio.NewWriterSize(tc, 64*1024)}
		if _, err := c.cmd('2', "EHLO %s", o.ehlo); err != nil {
			return 0, resumed, fmt.Errorf("EHLO after STARTTLS: %w", err)
		}
	}
	if o.user != "" {
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + o.user + "\x00" + o.pass))
		if _, err := c.cmd('2', "AUTH PLAIN %s", cred); err != nil {
			return 0, resumed, fmt.Errorf("AUTH: %w", err)
		}
	}
	ok := 0
	for k := 0; k < count; k++ {
		if k > 0 {
			t0 = time.Now()
		}
		if _, err := c.cmd('2', "MAIL FROM:<%s>", o.from); err != nil {
			return ok, resumed, fmt.Errorf("MAIL: %w", err)
		}
		if _, err := c.cmd('2', "RCPT TO:<%s>", o.to); err != nil {
			return ok, resumed, fmt.Errorf("RCPT: %w", err)
		}
		if _, err := c.cmd('3', "DATA"); err != nil {
			return ok, resumed, fmt.Errorf("DATA: %w", err)
		}
		c.w.WriteString(header(o, first+int64(k)))
		c.w.Write(body)
		c.w.WriteString(".\r\n")
		if err := c.w.Flush(); err != nil {
			return ok, resumed, err
		}
		if _, err := c.reply('2'); err != nil {
			return ok, resumed, fmt.Errorf("end of DATA: %w", err)
		}
		*lat = append(*lat, float64(time.Since(t0).Microseconds())/1000)
		ok++
	}
	_, _ = c.cmd('2', "QUIT")
	return ok, resumed, nil
}

func pct(sorted []float64, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // nearest rank
	return round(sorted[max(i-1, 0)], 2)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func round(v float64, d int) float64 {
	m := 1.0
	for i := 0; i < d; i++ {
		m *= 10
	}
	return float64(int64(v*m+0.5)) / m
}
