package watch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are served on /metrics in Prometheus' format.
type metrics struct {
	w         *Watch
	reg       *prometheus.Registry
	state     *prometheus.GaugeVec
	latency   *prometheus.HistogramVec
	checkOK   *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	failovers prometheus.Counter
	writer    *prometheus.GaugeVec
	semiSync  *prometheus.GaugeVec
	round     prometheus.Summary
}

func newMetrics(w *Watch) *metrics {
	m := &metrics{w: w, reg: prometheus.NewRegistry()}
	m.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mmm_host_state",
		Help: "1 for the state each host is in (MMM states), 0 for the others."}, []string{"host", "state"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mmm_check_latency_seconds",
		Help: "How long each check took.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"host", "check"})
	m.checkOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mmm_check_ok",
		Help: "1 when the check's last run passed."}, []string{"host", "check"})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mmm_replication_lag_seconds",
		Help: "Seconds_Behind_Master of each replica (absent when unknown)."}, []string{"host"})
	m.failovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "mmm_failovers_total",
		Help: "Writer failovers carried out by this watch."})
	m.writer = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mmm_writer",
		Help: "1 for the host the watch keeps as the writer."}, []string{"host"})
	m.semiSync = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mmm_semi_sync_active",
		Help: "1 while the writer waits for semi-sync acknowledgements, 0 while it fell back to asynchronous replication (absent when unknown or not configured)."}, []string{"host"})
	// A summary, not a histogram: make bench-watch reads the round's p50 and
	// p99 straight off /metrics, over the last minute.
	m.round = prometheus.NewSummary(prometheus.SummaryOpts{Name: "mmm_watch_round_seconds",
		Help:       "How long one round of the watch took (reading the facts, states, actions).",
		Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001}, MaxAge: time.Minute, AgeBuckets: 3})
	m.reg.MustRegister(m.state, m.latency, m.checkOK, m.lag, m.failovers, m.writer, m.semiSync, m.round)
	if w.cfg.Raft != nil {
		// Read at scrape time: which node leads is the question during an
		// election, not after the next round.
		node := prometheus.Labels{"node": w.cfg.Raft.Name()}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mmm_watch_leader", ConstLabels: node,
			Help: "1 while this watch node leads and acts, 0 while it follows."}, func() float64 {
			if w.actingNow() {
				return 1
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mmm_watch_raft_term", ConstLabels: node,
			Help: "The raft term this watch node knows."}, func() float64 { return float64(w.cfg.Raft.Info().Term) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mmm_watch_epoch", ConstLabels: node,
				Help: "The grant epoch this watch node knows (the agents refuse grants of an older one)."}, func() float64 { return float64(w.epochNow()) }))
	}
	return m
}

func (m *metrics) check(host, check string, r Result) {
	m.latency.WithLabelValues(host, check).Observe(r.Latency.Seconds())
	v := 0.0
	if r.OK {
		v = 1
	}
	m.checkOK.WithLabelValues(host, check).Set(v)
}

// observe copies states, writer and lag after a round (the watch's lock is held).
func (m *metrics) observe() {
	w := m.w
	for name, hs := range w.machine.Hosts {
		for _, s := range States {
			v := 0.0
			if hs.State == s {
				v = 1
			}
			m.state.WithLabelValues(name, string(s)).Set(v)
		}
		v := 0.0
		if name == w.writer {
			v = 1
		}
		m.writer.WithLabelValues(name).Set(v)
		m.semiSync.DeleteLabelValues(name)
		if name == w.writer && w.c.Replication.SemiSync && w.lastLive != nil {
			if active, known, _ := writerSemiSync(w.lastLive.Hosts[name]); known {
				on := 0.0
				if active {
					on = 1
				}
				m.semiSync.WithLabelValues(name).Set(on)
			}
		}
		if w.lastLive != nil {
			if lh := w.lastLive.Hosts[name]; lh != nil && lh.Replica != nil && lh.Replica.SecondsBehind != nil {
				m.lag.WithLabelValues(name).Set(float64(*lh.Replica.SecondsBehind))
			} else {
				m.lag.DeleteLabelValues(name)
			}
		}
	}
}
