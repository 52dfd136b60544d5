package inspect

import (
	"reflect"
	"testing"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestFillVariables(t *testing.T) {
	maria, _ := flavor.Parse("10.11.19-MariaDB-0+deb12u1-log")
	my, _ := flavor.Parse("8.0.36")
	tests := []struct {
		name string
		f    flavor.Flavor
		vars map[string]string
		want topology.LiveHost
	}{
		{
			// Recorded from the MariaDB 10.11 replica used for testdata.
			name: "mariadb", f: maria,
			vars: map[string]string{
				"auto_increment_increment": "2", "auto_increment_offset": "1", "gtid_binlog_pos": "0-1-30",
				"gtid_current_pos": "0-1-30", "gtid_slave_pos": "0-1-30", "gtid_strict_mode": "OFF", "log_bin": "ON",
				"log_slave_updates": "ON", "read_only": "OFF", "rpl_semi_sync_master_enabled": "OFF",
				"rpl_semi_sync_master_timeout": "10000", "rpl_semi_sync_slave_enabled": "ON", "server_id": "2",
			},
			want: topology.LiveHost{
				ServerID: 2, LogBin: true, LogSlaveUpdates: true, AutoIncrementIncrement: 2, AutoIncrementOffset: 1,
				GTIDBinlogPos: "0-1-30", GTIDSlavePos: "0-1-30", GTIDCurrentPos: "0-1-30", GTIDExecuted: "0-1-30",
				SemiSyncSlaveEnabled: true,
			},
		},
		{
			// A MySQL 8.0.36 server still running the old semi-sync plugins.
			name: "mysql", f: my,
			vars: map[string]string{
				"auto_increment_increment": "1", "auto_increment_offset": "1", "gtid_mode": "ON",
				"gtid_executed":            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4c2b9a6e-2f1d-11ef-8b8f-0242c612000c:1-2",
				"enforce_gtid_consistency": "ON", "log_bin": "ON", "log_replica_updates": "ON", "read_only": "ON",
				"super_read_only": "ON", "rpl_semi_sync_master_enabled": "ON", "server_id": "4294967295",
			},
			want: topology.LiveHost{
				ServerID: 4294967295, LogBin: true, LogSlaveUpdates: true, ReadOnly: true, SuperReadOnly: true,
				AutoIncrementIncrement: 1, AutoIncrementOffset: 1, GTIDMode: "ON", GTIDStrictMode: true,
				GTIDExecuted:          "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4c2b9a6e-2f1d-11ef-8b8f-0242c612000c:1-2",
				SemiSyncMasterEnabled: true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got topology.LiveHost
			fillVariables(tt.f, tt.vars, &got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSemiSyncSourceActive(t *testing.T) {
	tests := []struct {
		name   string
		status map[string]string
		want   string // "on", "off", "nil"
	}{
		{"MariaDB waiting for acks", map[string]string{"uptime": "10", "rpl_semi_sync_master_status": "ON"}, "on"},
		{"MariaDB fell back to async", map[string]string{"rpl_semi_sync_master_status": "OFF"}, "off"},
		{"MySQL 8.0.26+ naming", map[string]string{"rpl_semi_sync_source_status": "ON"}, "on"},
		{"no source side", map[string]string{"uptime": "10"}, "nil"},
	}
	for _, tt := range tests {
		got := "nil"
		if v := semiSyncSourceActive(tt.status); v != nil {
			got = map[bool]string{true: "on", false: "off"}[*v]
		}
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
