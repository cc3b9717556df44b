// Package open decodes TiCDC's open protocol: binary key/value batches of
// row changes, DDL and resolved (watermark) events.
package open
