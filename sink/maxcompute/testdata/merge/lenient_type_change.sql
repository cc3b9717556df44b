-- odsync: base table ods_shop_orders_base partition ds=20240302: the current row of every key (id) of ods_shop_orders from base partition 20240301, the log partitions after it up to 20240302, and the late rows of earlier log partitions (_seq above base partition 20240301's highest minus 1000000).
SET odps.namespace.schema=false;
SET odps.sql.decimal.odps2=true;
SET odps.sql.type.system.odps2=true;
CREATE TABLE IF NOT EXISTS `dw`.`ods_shop_orders_base` (
  `_op` STRING,
  `_seq` BIGINT,
  `_commit_ts` TIMESTAMP,
  `_pos` STRING,
  `_raw` STRING,
  `id` BIGINT,
  `customer_id` INT,
  `name` STRING,
  `amount` DECIMAL(18,4),
  `status` STRING,
  `created` TIMESTAMP_NTZ,
  `updated` TIMESTAMP,
  `note` STRING,
  `customer_id__string` STRING
)
COMMENT 'odsync base table of ods_shop_orders; key id'
PARTITIONED BY (`ds` STRING);
ALTER TABLE `dw`.`ods_shop_orders_base` ADD COLUMNS IF NOT EXISTS (`customer_id__string` STRING);
INSERT OVERWRITE TABLE `dw`.`ods_shop_orders_base` PARTITION (`ds` = '20240302') (`_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`)
SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`
FROM (
  SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`,
    ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `_seq` DESC) AS `__odsync_rn`
  FROM (
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string` FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240301'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string` FROM `dw`.`ods_shop_orders` WHERE `ds` > '20240301' AND `ds` <= '20240302'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string` FROM `dw`.`ods_shop_orders` WHERE `ds` <= '20240301' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240301')
  ) `__odsync_changes`
) `__odsync_latest`
WHERE `__odsync_rn` = 1 AND `_op` <> 'D';
