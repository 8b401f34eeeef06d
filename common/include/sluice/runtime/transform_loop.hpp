#pragma once
// PLACEHOLDER — the consume-transform-produce loop is not written yet.
//
// The pipeline helper implements it here (transform_loop.hpp/.cpp) on top of common/kafka:
//   - consumer in group config.ConsumerGroup(stage), isolation.level=read_committed,
//     manual offset storage; transactional producer (transactional.id per stage and
//     partition set), config.Librdkafka(stage) passed through;
//   - per batch: begin transaction, decode, TransformStage::Process each record, produce
//     Emit records to the output topic, Reject to topics.dlq with the kHeader* headers and the
//     original bytes, count Drop; send_offsets_to_transaction; commit; abort and rewind on an
//     abortable error; fatal errors throw core::InfraError(kNo);
//   - metrics: StandardMetrics (records in/out/rejected{reason}, batch and end-to-end
//     seconds, consumer lag); readiness: assigned and caught up;
//   - stops between batches when the ShutdownToken is requested (finish, commit, close).
// Until then a daemon's DaemonSpec::run owns its loop.
namespace sluice::runtime {}  // namespace sluice::runtime
