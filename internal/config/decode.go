package config

import "vigil/internal/yamlconf"

// decode parses data into a Hub with the strict decoder every Vigil
// configuration shares (yamlconf.Decode): unknown keys, duplicate keys and
// values of the wrong type are errors naming the file, line and key.
func decode(data []byte, file string) (*Hub, error) {
	h := &Hub{}
	src, err := yamlconf.Decode(data, h, yamlconf.Options{File: file})
	if err != nil {
		return nil, err
	}
	h.src = src
	return h, nil
}
