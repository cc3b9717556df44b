// Package maxwell decodes Maxwell's JSON (also TiCDC's maxwell protocol).
package maxwell
