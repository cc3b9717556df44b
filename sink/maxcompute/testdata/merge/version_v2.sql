-- odsync: base table ods_shop_orders_base partition ds=20240301: the current row of every key (id) of ods_shop_orders + ods_shop_orders_v2 from base partition 20240229, the log partitions after it up to 20240301, and the late rows of earlier log partitions (_seq above base partition 20240229's highest minus 1000000).
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
  `customer_id__string` STRING,
  `amount__decimal_20_6` DECIMAL(20,6)
)
COMMENT 'odsync base table of ods_shop_orders; key id'
PARTITIONED BY (`ds` STRING);
ALTER TABLE `dw`.`ods_shop_orders_base` ADD COLUMNS IF NOT EXISTS (`customer_id__string` STRING, `amount__decimal_20_6` DECIMAL(20,6));
INSERT OVERWRITE TABLE `dw`.`ods_shop_orders_base` PARTITION (`ds` = '20240301') (`_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`, `amount__decimal_20_6`)
SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`, `amount__decimal_20_6`
FROM (
  SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`, `amount__decimal_20_6`,
    ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `_seq` DESC) AS `__odsync_rn`
  FROM (
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, `customer_id__string`, `amount__decimal_20_6` FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, CAST(NULL AS STRING) AS `customer_id__string`, CAST(NULL AS DECIMAL(20,6)) AS `amount__decimal_20_6` FROM `dw`.`ods_shop_orders` WHERE `ds` > '20240229' AND `ds` <= '20240301'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, CAST(NULL AS INT) AS `customer_id`, `name`, CAST(NULL AS DECIMAL(18,4)) AS `amount`, `status`, `created`, `updated`, `note`, `customer_id` AS `customer_id__string`, `amount` AS `amount__decimal_20_6` FROM `dw`.`ods_shop_orders_v2` WHERE `ds` > '20240229' AND `ds` <= '20240301'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`, CAST(NULL AS STRING) AS `customer_id__string`, CAST(NULL AS DECIMAL(20,6)) AS `amount__decimal_20_6` FROM `dw`.`ods_shop_orders` WHERE `ds` <= '20240229' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229')
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, CAST(NULL AS INT) AS `customer_id`, `name`, CAST(NULL AS DECIMAL(18,4)) AS `amount`, `status`, `created`, `updated`, `note`, `customer_id` AS `customer_id__string`, `amount` AS `amount__decimal_20_6` FROM `dw`.`ods_shop_orders_v2` WHERE `ds` <= '20240229' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229')
  ) `__odsync_changes`
) `__odsync_latest`
WHERE `__odsync_rn` = 1 AND `_op` <> 'D';
