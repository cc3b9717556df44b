-- odsync: base table ods_shop_order_base partition ds=2024030200: the current row of every key (_src_db, _src_table, id) of ods_shop_order from base partition 2024030123, the log partitions after it up to 2024030200, and the late rows of earlier log partitions (_seq above base partition 2024030123's highest minus 1000000).
SET odps.namespace.schema=false;
SET odps.sql.decimal.odps2=true;
SET odps.sql.type.system.odps2=true;
CREATE TABLE IF NOT EXISTS `ods_shop_order_base` (
  `_op` STRING,
  `_seq` BIGINT,
  `_commit_ts` TIMESTAMP,
  `_pos` STRING,
  `_raw` STRING,
  `_src_db` STRING,
  `_src_table` STRING,
  `id` BIGINT,
  `customer_id` INT,
  `name` STRING,
  `amount` DECIMAL(18,4),
  `status` STRING,
  `created` TIMESTAMP_NTZ,
  `updated` TIMESTAMP,
  `note` STRING
)
COMMENT 'odsync base table of ods_shop_order; key _src_db,_src_table,id'
PARTITIONED BY (`ds` STRING);
ALTER TABLE `ods_shop_order_base` ADD COLUMNS IF NOT EXISTS (`_op` STRING, `_seq` BIGINT, `_commit_ts` TIMESTAMP, `_pos` STRING, `_raw` STRING, `_src_db` STRING, `_src_table` STRING, `id` BIGINT, `customer_id` INT, `name` STRING, `amount` DECIMAL(18,4), `status` STRING, `created` TIMESTAMP_NTZ, `updated` TIMESTAMP, `note` STRING);
INSERT OVERWRITE TABLE `ods_shop_order_base` PARTITION (`ds` = '2024030200') (`_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`)
SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`
FROM (
  SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`,
    ROW_NUMBER() OVER (PARTITION BY `_src_db`, `_src_table`, `id` ORDER BY `_seq` DESC) AS `__odsync_rn`
  FROM (
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `ods_shop_order_base` WHERE `ds` = '2024030123'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `ods_shop_order` WHERE `ds` > '2024030123' AND `ds` <= '2024030200'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `_src_db`, `_src_table`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `ods_shop_order` WHERE `ds` <= '2024030123' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `ods_shop_order_base` WHERE `ds` = '2024030123')
  ) `__odsync_changes`
) `__odsync_latest`
WHERE `__odsync_rn` = 1 AND `_op` <> 'D';
