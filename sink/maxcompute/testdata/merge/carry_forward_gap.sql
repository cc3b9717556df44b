-- odsync: base table ods_shop_orders_base partition ds=20240302: the current row of every key (id) of ods_shop_orders from base partition 20240229, the log partitions after it up to 20240302, and the late rows of earlier log partitions (_seq above base partition 20240229's highest minus 1000000).
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
  `note` STRING
)
COMMENT 'odsync base table of ods_shop_orders; key id'
PARTITIONED BY (`ds` STRING);
INSERT OVERWRITE TABLE `dw`.`ods_shop_orders_base` PARTITION (`ds` = '20240302') (`_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`)
SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`
FROM (
  SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note`,
    ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `_seq` DESC) AS `__odsync_rn`
  FROM (
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `dw`.`ods_shop_orders` WHERE `ds` > '20240229' AND `ds` <= '20240302'
    UNION ALL
    SELECT `_op`, `_seq`, `_commit_ts`, `_pos`, `_raw`, `id`, `customer_id`, `name`, `amount`, `status`, `created`, `updated`, `note` FROM `dw`.`ods_shop_orders` WHERE `ds` <= '20240229' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229')
  ) `__odsync_changes`
) `__odsync_latest`
WHERE `__odsync_rn` = 1 AND `_op` <> 'D';
