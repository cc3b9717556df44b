package odsfile

import (
	"math"
	"math/big"
	"testing"
)

// TestScaledInt: the int64 path renders decimals as the big.Int path does.
func TestScaledInt(t *testing.T) {
	for _, i := range []int64{0, 1, -1, 7, -7, 12345, -12345, 10000, -10000, 999999999999999999, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		for _, scale := range []int{0, 1, 2, 4, 5, 18, 19, 20, 38} {
			if got, want := scaledInt(i, scale), scaledText(big.NewInt(i), scale); got != want {
				t.Errorf("scaledInt(%d, %d) = %q, want %q", i, scale, got, want)
			}
		}
	}
}
