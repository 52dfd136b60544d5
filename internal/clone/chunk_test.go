package clone

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSplitRange(t *testing.T) {
	tbl := &Table{Schema: "s", Name: "t", IntKey: "id"}
	tests := []struct {
		name            string
		lo, hi, rows, n int64
		want            [][2]int64
	}{
		{"small table is one chunk", 1, 10, 10, 100, [][2]int64{{1, 10}}},
		{"even split", 1, 100, 100, 25, [][2]int64{{1, 25}, {26, 50}, {51, 75}, {76, 100}}},
		{"remainder goes to the last", 1, 10, 10, 3, [][2]int64{{1, 3}, {4, 6}, {7, 9}, {10, 10}}},
		{"sparse keys: chunks by row estimate", 0, 999, 10, 5, [][2]int64{{0, 499}, {500, 999}}},
		{"more chunks than keys", 5, 6, 100, 1, [][2]int64{{5, 5}, {6, 6}}},
		{"negative keys", -10, 9, 20, 10, [][2]int64{{-10, -1}, {0, 9}}},
		{"single key", 7, 7, 1, 10, [][2]int64{{7, 7}}},
		{"full bigint range", math.MinInt64, math.MaxInt64, 2, 1, [][2]int64{{math.MinInt64, -1}, {0, math.MaxInt64}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitRange(tbl, tt.lo, tt.hi, tt.rows, tt.n)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d chunks %v, want %v", len(got), got, tt.want)
			}
			for i, c := range got {
				if c.Lo != tt.want[i][0] || c.Hi != tt.want[i][1] {
					t.Errorf("chunk %d = [%d, %d], want %v", i, c.Lo, c.Hi, tt.want[i])
				}
				if c.Last != (i == len(got)-1) {
					t.Errorf("chunk %d Last = %v", i, c.Last)
				}
			}
		})
	}
}

func TestChunkWhere(t *testing.T) {
	tbl := &Table{Schema: "shop", Name: "or`ders", IntKey: "id", Columns: []string{"id", "b"}, BitColumns: map[string]bool{"b": true}}
	c := Chunk{Table: tbl, Lo: 1, Hi: 9}
	if got, want := c.Where(), " WHERE `id` BETWEEN 1 AND 9"; got != want {
		t.Errorf("Where = %q, want %q", got, want)
	}
	if got := (Chunk{Table: tbl, Whole: true}).Where(); got != "" {
		t.Errorf("whole table Where = %q", got)
	}
	q := checksumQuery(c)
	for _, want := range []string{"FROM `shop`.`or``ders` WHERE `id` BETWEEN 1 AND 9", "HEX(`b`)", "ISNULL(`id`), ISNULL(`b`)"} {
		if !strings.Contains(q, want) {
			t.Errorf("checksum query %q lacks %q", q, want)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		v    []byte
		null bool
		bit  bool
		want string
	}{
		{nil, true, false, "NULL"},
		{[]byte(""), false, false, "''"},
		{[]byte("it's"), false, false, `'it''s'`},
		{[]byte("a\\b\n\r\x00\x1a"), false, false, `'a\\b\n\r\0\Z'`},
		{[]byte{0xff, 0xfe, 'x'}, false, false, "'\xff\xfex'"},
		{[]byte{0x01, 0xab}, false, true, "X'01AB'"},
	}
	for _, tt := range tests {
		if got := string(appendValue(nil, tt.v, tt.null, tt.bit)); got != tt.want {
			t.Errorf("appendValue(%q) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestProgressETA(t *testing.T) {
	tests := []struct {
		name string
		s    Snapshot
		frac float64
		eta  time.Duration
	}{
		{"nothing yet", Snapshot{Elapsed: time.Second, RowsTotal: 100}, 0, 0},
		{"a quarter in 10s", Snapshot{Elapsed: 10 * time.Second, Rows: 25, RowsTotal: 100}, 0.25, 30 * time.Second},
		{"half", Snapshot{Elapsed: 4 * time.Second, Rows: 500, RowsTotal: 1000}, 0.5, 4 * time.Second},
		{"past the estimate", Snapshot{Elapsed: 4 * time.Second, Rows: 1500, RowsTotal: 1000}, 1, 0},
		{"no row estimate: by tables", Snapshot{Elapsed: 2 * time.Second, TablesDone: 1, TablesTotal: 2}, 0.5, 2 * time.Second},
		{"empty donor", Snapshot{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Fraction(); got != tt.frac {
				t.Errorf("Fraction = %v, want %v", got, tt.frac)
			}
			if got := tt.s.ETA(); got != tt.eta {
				t.Errorf("ETA = %v, want %v", got, tt.eta)
			}
		})
	}
}

func TestProgressBar(t *testing.T) {
	s := Snapshot{Elapsed: 10 * time.Second, TablesDone: 7, TablesTotal: 20, Rows: 420_000, RowsTotal: 1_000_000, Bytes: 40 << 20}
	got := s.Bar(100)
	want := "[##############....................]  42%  7/20 tables  420k/1.0M rows  40.0 MiB  4.0 MiB/s  ETA 14s"
	if got != want {
		t.Errorf("Bar =\n%q\nwant\n%q", got, want)
	}
	if len(got) > 100 {
		t.Errorf("bar is %d wide, want at most 100", len(got))
	}
	if r := s.Rate(); r != float64(4<<20) {
		t.Errorf("Rate = %v", r)
	}
}

func TestReporterLogLines(t *testing.T) {
	var out strings.Builder
	p := &Progress{start: time.Now(), TablesTotal: 2, RowsTotal: 10}
	p.rows.Add(5)
	no := false
	var logBuf strings.Builder
	r := &Reporter{Out: &out, Terminal: &no, Log: newTextLogger(&logBuf), Interval: time.Hour}
	stop := r.start(p, "slave3")
	stop()
	if out.Len() != 0 {
		t.Errorf("log mode wrote to the terminal writer: %q", out.String())
	}
	if !strings.Contains(logBuf.String(), "clone progress") || !strings.Contains(logBuf.String(), "rows=5") {
		t.Errorf("log line: %q", logBuf.String())
	}
	yes := true
	r = &Reporter{Out: &out, Terminal: &yes}
	r.start(p, "slave3")()
	if !strings.HasPrefix(out.String(), "\r\x1b[Kslave3: [") || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("bar output: %q", out.String())
	}
	if IsTerminal(&out) {
		t.Error("a strings.Builder is not a terminal")
	}
}

func TestSplitSecondaryKeys(t *testing.T) {
	create := "CREATE TABLE `t` (\n  `id` bigint(20) NOT NULL,\n  `n` int(11) NOT NULL,\n  `s` varchar(64) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `s` (`s`),\n  KEY `n` (`n`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	got, keys := SplitSecondaryKeys(create)
	want := "CREATE TABLE `t` (\n  `id` bigint(20) NOT NULL,\n  `n` int(11) NOT NULL,\n  `s` varchar(64) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	if got != want {
		t.Errorf("table:\n%s\nwant\n%s", got, want)
	}
	tbl := &Table{Schema: "s", Name: "t", DeferredKeys: keys}
	if got, want := tbl.AddKeysStatement(), "ALTER TABLE `s`.`t` ADD UNIQUE KEY `s` (`s`), ADD KEY `n` (`n`)"; got != want {
		t.Errorf("AddKeysStatement = %q, want %q", got, want)
	}
	fk := "CREATE TABLE `c` (\n  `id` int NOT NULL,\n  `p` int,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `p` (`id`)\n) ENGINE=InnoDB"
	if got, keys := SplitSecondaryKeys(fk); got != fk || keys != nil {
		t.Errorf("a table with foreign keys was changed: %q %v", got, keys)
	}
	myisam := strings.Replace(create, "InnoDB", "MyISAM", 1)
	if got, keys := SplitSecondaryKeys(myisam); got != myisam || keys != nil {
		t.Errorf("a MyISAM table was changed")
	}
}

func TestAppendField(t *testing.T) {
	tests := []struct {
		v    []byte
		null bool
		want string
	}{
		{nil, true, `\N`},
		{[]byte(""), false, ""},
		{[]byte("N"), false, "N"},
		{[]byte("a\tb\nc\rd\\e\x00f'g"), false, `a\tb\nc\rd\\e\0f'g`},
	}
	for _, tt := range tests {
		if got := string(appendField(nil, tt.v, tt.null)); got != tt.want {
			t.Errorf("appendField(%q) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
