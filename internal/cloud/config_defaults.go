package cloud

import (
	"vigil/internal/cloud/hubhealth"
	"vigil/internal/units"
	"vigil/internal/yamlconf"
)

// DefaultLogLevel is log_level's default.
const DefaultLogLevel = "info"

// ConfigDefaults is the cloud's table of defaults: every key the cloud
// fills in when its config file leaves it missing, empty or zero, with the
// value as a file writes it. Config.ApplyDefaults applies exactly this
// table, and docs/CONFIG.md's Default column is checked against it
// (TestConfigDefaultsDocumented).
//
// The keys of an S3 bucket (blobs.s3.secure, part_size, max_object_size)
// are not in it: they mean something only with blobs.driver s3, and the
// bucket's client applies them (S3Config.IsSecure, s3blob.DefaultPartSize,
// blob.DefaultMaxObjectSize), which the same test checks the documentation
// against. Defaults derived from other keys (log_key under data,
// log_origin from public_url, witness_quorum: all witnesses) stay with the
// code that derives them.
func ConfigDefaults() []yamlconf.Default {
	return []yamlconf.Default{
		{Key: "store.driver", Value: StoreSQLite},
		{Key: "blobs.driver", Value: BlobsDir},
		{Key: "bus.driver", Value: BusLocal},
		{Key: "quota", Value: units.ByteSize(DefaultQuotaBytes).String()},
		{Key: "log_level", Value: DefaultLogLevel},
		{Key: "hub_quiet_after", Value: units.Duration(hubhealth.DefaultQuietAfter).Short()},
	}
}

// ApplyDefaults fills the keys c leaves empty or zero with ConfigDefaults.
// Validate calls it.
func (c *Config) ApplyDefaults() {
	if err := yamlconf.ApplyDefaults(c, ConfigDefaults()); err != nil {
		// The table names keys of Config with values of their types;
		// TestConfigDefaults applies it.
		panic("cloud: " + err.Error())
	}
}
