// Starts GraphiQL on the page `GET /graphql` serves (src/http/graphiql.rs, which embeds this file).
// The page loads React, ReactDOM, graphql-ws and GraphiQL from this service (the npm packages pinned
// in web/graphiql/package.json), then this script: no CDN, no inline script (CSP script-src 'self').
//
// Queries and mutations: POST to the endpoint, with the headers from GraphiQL's Headers tab.
// Subscriptions: graphql-ws (graphql-transport-ws) on ws(s)://<this host><subscription endpoint>; the
// `Authorization` value of the Headers tab goes as `connectionParams.authorization` (the socket
// cannot carry HTTP headers), and a changed value opens a new socket.
(function () {
  'use strict';

  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var wsUrl =
    (location.protocol === 'https:' ? 'wss://' : 'ws://') +
    location.host +
    root.getAttribute('data-subscription-endpoint');
  var gql = GraphiQL.GraphQL;

  // Queries and mutations; GraphiQL merges the Headers tab into each request.
  var http = GraphiQL.createFetcher({ url: endpoint });

  function authorizationOf(headers) {
    if (!headers) return undefined;
    for (var name in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, name) && name.toLowerCase() === 'authorization') {
        return String(headers[name]);
      }
    }
    return undefined;
  }

  // One socket at a time, for one Authorization value.
  var socket = null;
  function socketFor(authorization) {
    if (socket && socket.authorization === authorization) return socket.client;
    if (socket) socket.client.dispose();
    var client = graphqlWs.createClient({
      url: wsUrl,
      connectionParams: authorization === undefined ? {} : { authorization: authorization },
      // Connect for the first subscription, close after the last one.
      lazy: true,
      // A refused token (4403) will not be accepted on a retry either: show the close at once.
      retryAttempts: 0,
    });
    socket = { authorization: authorization, client: client };
    return client;
  }

  // Decided from the text sent, not from GraphiQL's `documentAST`, which can lag behind the editor.
  function isSubscription(params) {
    var doc;
    try {
      doc = gql.parse(params.query);
    } catch (e) {
      return false;
    }
    var op = gql.getOperationAST(doc, params.operationName || undefined);
    return !!op && op.operation === 'subscription';
  }

  // graphql-ws reports a closed socket as a CloseEvent; GraphiQL prints errors as JSON.
  function describe(error) {
    if (error && typeof error.code === 'number' && 'reason' in error) {
      var hint =
        error.code === 4403
          ? ' (the socket needs a valid token: {"Authorization": "Bearer <jwt>"} in the Headers tab)'
          : '';
      return new Error('socket closed with ' + error.code + (error.reason ? ': ' + error.reason : '') + hint);
    }
    if (Array.isArray(error)) return { errors: error };
    return error instanceof Error ? error : new Error(String(error));
  }

  function fetcher(params, opts) {
    if (!isSubscription(params)) return http(params, opts);
    var client = socketFor(authorizationOf(opts && opts.headers));
    return {
      subscribe: function (sink) {
        var dispose = client.subscribe(
          { query: params.query, variables: params.variables, operationName: params.operationName },
          {
            next: function (value) {
              sink.next(value);
            },
            error: function (error) {
              sink.error(describe(error));
            },
            complete: function () {
              sink.complete();
            },
          },
        );
        return { unsubscribe: dispose };
      },
    };
  }

  var defaultQuery =
    '# Most fields need a token: put {"Authorization": "Bearer <jwt>"} in the Headers tab below\n' +
    '# (`cargo run -- token --sub ID --role student` or `cargo run -- seed-demo` mint one).\n' +
    '# Subscriptions run over ' + wsUrl + ' with that token.\n' +
    '\n' +
    '{\n  me {\n    id\n  }\n}\n';

  root.textContent = '';
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      // Tokens stay out of localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
