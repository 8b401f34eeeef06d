#!/bin/sh
# Stand-in for the tarball's script of the same name (the compose healthcheck calls it).
exec java -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties -Xmx128m \
  -cp '/opt/kafka/libs/*' org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
