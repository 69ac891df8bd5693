export { DockerRunner, parseRunRequest, describe as describeRunResult, type DockerRunnerParams } from "./docker-runner.js";
export { containerOptions, hostConfig, execOptions, volumeOptions, jobLabels, Labels, KEEPER_PATH, WORK_DIR, OUTPUT_DIR, JOB_USER, MAX_OUTPUT_FILES } from "./container-spec.js";
export { LogSplitter, MAX_LINE } from "./log-splitter.js";
