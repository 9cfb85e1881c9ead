export { startMqttAuthListener, AUTH_TOPIC, type MqttAuthDeps, type MqttAuthListener } from './listener.js'
export { encodeAuthMessage, decodeAuthMessage } from './message.js'
export { DeviceStore, type DeviceRecord } from './devices.js'
