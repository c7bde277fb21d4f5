package yamlconftest

import (
	"reflect"
	"slices"
	"testing"

	"vigil/internal/units"
)

type inner struct {
	Driver string         `yaml:"driver"`
	Size   units.ByteSize `yaml:"size"`
}

type item struct {
	Name string `yaml:"name"`
}

type doc struct {
	Listen string         `yaml:"listen"`
	Age    units.Duration `yaml:"max_age"`
	Store  inner          `yaml:"store"`
	Opt    *inner         `yaml:"opt"`
	Items  []item         `yaml:"items"`
	Tags   []string       `yaml:"tags"`
	Mask   [][][2]float64 `yaml:"mask"`
	Skip   string         `yaml:"-"`
	hidden string
}

func TestKeys(t *testing.T) {
	want := []string{"listen", "max_age", "store", "store.driver", "store.size", "opt", "opt.driver", "opt.size",
		"items[]", "items[].name", "tags[]", "mask[][]"}
	if got := Keys(reflect.TypeFor[doc]()); !slices.Equal(got, want) {
		t.Errorf("Keys = %q\nwant %q", got, want)
	}
}
