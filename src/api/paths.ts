// The REST API's URL layout, shared by the server and ferroctl (which must not load the server).
export const API_PREFIX = '/api/v1';
